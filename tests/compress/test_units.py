"""Structured LSTM-unit pruning: exactness before fine-tuning, all consumer kinds, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy import _tf
from lstm_deploy.errors import InputError, UnsupportedLayerError
from lstm_deploy.compress.prune.units import unit_prune

X = np.random.default_rng(0).normal(size=(4, 7, 3)).astype("float32")


def _tfk():
    return _tf.tf_keras()


def _model(kind: str):
    """Tiny tf_keras models; returns (model, {pruned layer: [(consumer layer, kernel index)]})."""
    k = _tfk()
    k.utils.set_random_seed(3)
    inp = k.Input((7, 3))
    if kind == "stacked":
        h = k.layers.LSTM(8, return_sequences=True, name="l1")(inp)
        h = k.layers.Dropout(0.2)(h)
        h = k.layers.LSTM(6, return_sequences=True, name="l2")(h)
        h = k.layers.BatchNormalization(name="bn")(h)
        h = k.layers.LSTM(5, name="l3")(h)
        out = k.layers.Dense(3, activation="softmax", name="head")(h)
        cons = {"l1": [("l2", 0)], "l2": [("l3", 0)], "l3": [("head", 0)]}
    elif kind in ("bidir_concat", "bidir_sum"):
        merge = "concat" if kind == "bidir_concat" else "sum"
        h = k.layers.Bidirectional(k.layers.LSTM(6, return_sequences=True), merge_mode=merge, name="bi")(inp)
        h = k.layers.Bidirectional(k.layers.LSTM(4), merge_mode=merge, name="bi2")(h)
        out = k.layers.Dense(2, name="head")(h)
        cons = {"bi": [("bi2", 0), ("bi2", 3)], "bi2": [("head", 0)]}
    elif kind == "conv_td":
        h = k.layers.Conv1D(4, 3, padding="same", name="conv")(inp)
        h = k.layers.LSTM(8, return_sequences=True, name="l1")(h)
        h = k.layers.Conv1D(5, 2, padding="same", name="conv2")(h)
        h = k.layers.LSTM(6, return_sequences=True, name="l2")(h)
        out = k.layers.TimeDistributed(k.layers.Dense(2), name="td")(h)
        cons = {"l1": [("conv2", 0)], "l2": [("td", 0)]}
    else:
        raise ValueError(kind)
    model = k.Model(inp, out)
    if kind == "stacked":  # distinct per-feature statistics: slicing the wrong features out of "bn" must show
        rng = np.random.default_rng(4)
        model.get_layer("bn").set_weights([rng.uniform(0.5, 1.5, 6), rng.normal(0, 0.5, 6), rng.normal(0, 0.5, 6), rng.uniform(0.5, 2.0, 6)])
    return model, cons


def _zeroed_original(model, result, cons):
    """The original with the removed units' outgoing weights (recurrent rows, consumer rows) zeroed."""
    k = _tfk()
    z = k.models.clone_model(model)
    z.set_weights(model.get_weights())
    for name, kept in result.kept.items():
        layer = z.get_layer(name)
        units = result.units_before[name]
        w = layer.get_weights()
        n = len(w) // len(kept)
        removed = []
        for d, keep in enumerate(kept):
            gone = np.setdiff1d(np.arange(units), keep)
            w[d * n + 1][gone, :] = 0.0
            removed.append(gone)
        layer.set_weights(w)
        merge = getattr(layer, "merge_mode", None)
        feats = np.concatenate([removed[0], removed[1] + units]) if merge == "concat" else removed[0]
        for cname, idx in cons[name]:
            c = z.get_layer(cname)
            cw = c.get_weights()
            kern = cw[idx]
            np.moveaxis(kern, kern.ndim - 2, 0)[feats] = 0.0
            c.set_weights(cw)
    return z


@pytest.mark.parametrize(
    "kind, per_layer",
    [("stacked", False), ("stacked", True), ("bidir_concat", False), ("bidir_concat", True), ("bidir_sum", False), ("conv_td", False)],
)
def test_pruned_equals_original_with_units_removed(kind, per_layer):
    model, cons = _model(kind)
    before = model.get_weights()
    res = unit_prune(model, 0.5, per_layer=per_layer)
    assert set(res.kept) == set(cons)
    assert all(res.units_after[n] < res.units_before[n] for n in res.kept)
    if per_layer:
        assert res.units_after == {n: u - round(0.5 * u) for n, u in res.units_before.items()}
    if kind == "bidir_sum":
        assert all(kept[0] == kept[1] for kept in res.kept.values())
    expected = _zeroed_original(model, res, cons)(X, training=False).numpy()
    got = res.model(X, training=False).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert res.model.count_params() < model.count_params()
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "input model was modified"
    # removing units changes the outputs (the check above is not vacuous)
    assert np.max(np.abs(got - model(X, training=False).numpy())) > 1e-4


def test_sparsity_zero_is_identity():
    model, _ = _model("stacked")
    res = unit_prune(model, 0.0)
    assert res.units_after == res.units_before
    np.testing.assert_allclose(res.model(X, training=False).numpy(), model(X, training=False).numpy(), atol=1e-6)


def test_layers_option_limits_pruning():
    model, _ = _model("stacked")
    res = unit_prune(model, 0.5, layers=("l2",))
    assert list(res.kept) == ["l2"] and res.units_after["l2"] == 3


def test_keras3_in_keras3_out():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((7, 3))
    h = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))(inp)
    h = keras.layers.LSTM(4)(h)
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    res = unit_prune(model, 0.5)
    assert type(res.model).__module__.startswith("keras")
    assert not type(res.model).__module__.startswith("tf_keras")
    assert res.model.count_params() < model.count_params()


def test_errors():
    k = _tfk()
    model, _ = _model("stacked")
    with pytest.raises(InputError, match="removes no unit"):
        unit_prune(model, 0.01)
    with pytest.raises(InputError, match="no layer named 'nope'"):
        unit_prune(model, 0.5, layers=("nope",))
    with pytest.raises(UnsupportedLayerError, match="cannot remove units of layer 'head'"):
        unit_prune(model, 0.5, layers=("head",))
    with pytest.raises(InputError, match=r"\[0, 1\)"):
        unit_prune(model, 1.0)
    dense = k.Sequential([k.Input((7, 3)), k.layers.Flatten(), k.layers.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="no LSTM layer whose units can be removed"):
        unit_prune(dense, 0.5)
    inp = k.Input((7, 3))
    last = k.Model(inp, k.layers.LSTM(4, name="last")(inp))
    with pytest.raises(UnsupportedLayerError, match="model's outputs directly"):
        unit_prune(last, 0.5)


def test_prune_model_units_regression_finetunes_and_reports():
    from lstm_deploy.load.dataset import validate_arrays
    from lstm_deploy.compress.prune import PruneConfig, prune_model

    k = _tfk()
    k.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 7, 3)).astype("float32")
    y = x[:, :, 0].mean(1, keepdims=True).astype("float32")
    ds = validate_arrays({"x_train": x[:32], "y_train": y[:32], "x_test": x[32:], "y_test": y[32:]})
    model, _ = _model("stacked")
    model = k.Model(model.inputs, k.layers.Dense(1)(model.get_layer("l3").output))
    res = prune_model(model, ds, PruneConfig(sparsity=0.5, method="units", epochs=2, batch_size=16), measure_latency=False)
    rep = res.report
    assert rep.metric == "rmse" and rep.steps_run >= 1 and rep.finetune["curve"][0]["step"] == 0
    assert rep.metric_drop == pytest.approx(rep.metric_after - rep.metric_before)
    assert 0.4 <= rep.achieved_sparsity <= 0.6
    assert rep.size_after["params"] < rep.size_before["params"]
    assert res.model.count_params() == rep.size_after["params"]
