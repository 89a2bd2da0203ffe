"""Magnitude pruning: the target is reached even on very short fine-tunes, wrappers strip cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy import _tf
from lstm_deploy.load.dataset import validate_arrays
from lstm_deploy.errors import InputError, UnsupportedLayerError
from lstm_deploy.compress.prune import PruneConfig, derive_schedule, magnitude_prune, prune_model
from lstm_deploy.compress.prune.magnitude import prunable_weights


def _dataset(n_train: int = 24, n_test: int = 8, seq: int = 6):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_train + n_test, seq, 3)).astype("float32")
    y = (x[:, :, 0].mean(1) > 0).astype("int64")
    return validate_arrays({"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]})


def _mixed_model():
    """Conv1D -> Bidirectional(LSTM) -> TimeDistributed(Dense) -> LSTM -> Dense (tf_keras)."""
    k = _tf.tf_keras()
    k.utils.set_random_seed(0)
    inp = k.Input((6, 3))
    h = k.layers.Conv1D(4, 2, padding="same", name="conv")(inp)
    h = k.layers.Bidirectional(k.layers.LSTM(8, return_sequences=True), name="bi")(h)
    h = k.layers.TimeDistributed(k.layers.Dense(5), name="td")(h)
    h = k.layers.LSTM(6, name="lstm")(h)
    return k.Model(inp, k.layers.Dense(2, activation="softmax", name="head")(h))


@pytest.mark.parametrize("total", [1, 2, 3, 6, 17, 100, 1000])
@pytest.mark.parametrize("kind", ["polynomial", "constant"])
def test_schedule_last_update_lands_on_target(total, kind):
    s = derive_schedule(kind, 0.8, total_steps=total, steps_per_epoch=max(1, total // 2))
    assert 1 <= s.begin_step <= s.end_step <= total  # tfmot counts steps 1..total
    assert (s.end_step - s.begin_step) % s.frequency == 0  # an update happens exactly at end_step
    assert s.final_epoch <= -(-total // s.steps_per_epoch)
    assert (s.end_step - s.begin_step) // s.frequency <= 16
    if total >= 100:
        assert s.end_step < total  # leaves steps to recover after the last mask update


@pytest.fixture(scope="module")
def short_run():
    """2 epochs x 3 steps of fine-tuning: tfmot's defaults would end at 0 % sparsity."""
    model = _mixed_model()
    ds = _dataset()
    before = [w.copy() for w in model.get_weights()]
    res = magnitude_prune(model, ds, PruneConfig(sparsity=0.8, epochs=2, batch_size=8))
    return model, ds, before, res


def test_target_reached_on_every_layer_including_bidirectional(short_run):
    model, _, _, res = short_run
    assert res.schedule.total_steps == 2 * 3
    assert set(res.layers) == {"conv", "bi", "td", "lstm", "head"}
    for name in res.layers:
        for label, var in prunable_weights(res.model.get_layer(name)):
            w = np.asarray(var)
            assert np.mean(w == 0) >= 0.8 - 1.0 / w.size, (name, label)
    assert {"bi/forward_kernel", "bi/backward_recurrent_kernel"} <= set(res.sparsity)


def test_result_is_plain_and_input_untouched(short_run, tmp_path):
    model, ds, before, res = short_run
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    classes = [type(layer).__name__ for layer in res.model.layers]
    assert "Bidirectional" in classes and not any("Prun" in c for c in classes)
    # stripped model saves and reloads with plain tf_keras and predicts the same
    k = _tf.tf_keras()
    path = tmp_path / "p.keras"
    res.model.save(path)
    again = k.models.load_model(path)
    np.testing.assert_allclose(again(ds.x_test).numpy(), res.model(ds.x_test).numpy(), atol=1e-6)


def test_single_step_constant_schedule_and_layer_selection():
    k = _tf.tf_keras()
    ds = _dataset(n_train=8)
    model = k.Sequential([
        k.Input((6, 3)), k.layers.Bidirectional(k.layers.LSTM(4), name="bi"), k.layers.Dense(2, name="head"),
    ])
    res = magnitude_prune(model, ds, PruneConfig(sparsity=0.5, schedule="constant", epochs=1, batch_size=64, layers=("bi",)))
    assert res.schedule.total_steps == 1
    assert res.layers == ["bi"]
    for _, var in prunable_weights(res.model.get_layer("bi")):
        assert np.mean(np.asarray(var) == 0) >= 0.5 - 1.0 / np.asarray(var).size
    # layers not selected stay dense
    for name in ("head",):
        for a, b in zip(res.model.get_layer(name).get_weights(), model.get_layer(name).get_weights()):
            assert np.count_nonzero(a) == a.size


def test_sparsity_zero_changes_nothing():
    model = _mixed_model()
    ds = _dataset()
    res = prune_model(model, ds, PruneConfig(sparsity=0.0, epochs=2))
    np.testing.assert_allclose(res.model(ds.x_test).numpy(), model(ds.x_test).numpy(), atol=1e-6)
    assert res.report.metric_drop == 0.0


def test_keras3_in_keras3_out_with_embedding():
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.integers(1, 20, size=(32, 6)).astype("int32")
    y = (x[:, 0] > 10).astype("int64")
    ds = validate_arrays({"x_train": x[:24], "y_train": y[:24], "x_test": x[24:], "y_test": y[24:]})
    inp = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 4, name="emb")(inp)
    h = keras.layers.LSTM(6, name="lstm")(h)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(h))
    res = prune_model(model, ds, PruneConfig(sparsity=0.75, epochs=2, batch_size=8))
    assert type(res.model).__module__.startswith("keras.")
    emb = np.asarray(res.model.get_layer("emb").embeddings)
    assert np.mean(emb == 0) >= 0.74
    assert res.report.flavour == "keras3"
    assert res.report.weight_sparsity["lstm/recurrent_kernel"] >= 0.74


def test_errors():
    k = _tf.tf_keras()
    ds = _dataset()
    model = _mixed_model()
    with pytest.raises(InputError, match="--sparsity"):
        PruneConfig(sparsity=1.0)
    with pytest.raises(InputError, match="--epochs"):
        PruneConfig(sparsity=0.5, epochs=0)
    with pytest.raises(InputError, match="no layer named 'nope'"):
        magnitude_prune(model, ds, PruneConfig(sparsity=0.5, layers=("nope",)))
    flat = k.Sequential([k.Input((6, 3)), k.layers.GlobalAveragePooling1D()])
    with pytest.raises(UnsupportedLayerError, match="no layer that magnitude pruning can prune"):
        magnitude_prune(flat, ds, PruneConfig(sparsity=0.5))


def test_bisection_walks_to_highest_sparsity_within_budget():
    from lstm_deploy.errors import StageError
    from lstm_deploy.compress.prune.search import bisect_sparsity

    def attempt(s):
        return f"model@{s}", 10 * s, {}  # drop grows with sparsity: budget 4 allows s <= 0.4

    (best, outcome), curve = bisect_sparsity(attempt, 0.9, max_drop=4.0, steps=4)
    assert [round(p["sparsity"], 5) for p in curve] == [0.9, 0.45, 0.225, 0.3375, 0.39375]
    assert best == pytest.approx(0.39375) and outcome == f"model@{best}"
    assert [p["ok"] for p in curve] == [False, False, True, True, True]
    with pytest.raises(StageError, match="no sparsity tried"):
        bisect_sparsity(attempt, 0.9, max_drop=0.0, steps=2)
