"""Pruning captioners: magnitude pruning reaches the CNN encoder and the decoder LSTM; unit pruning says why not."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.errors import UnsupportedLayerError

from tests.zoo import CAP_IMAGE, CAP_LEN, CAPTION_ZOO, caption_dataset, keras_module


def _zeros(model, cls: str, weight: int = 0) -> float:
    w = next(layer for layer in model.layers if layer.__class__.__name__ == cls).get_weights()[weight]
    return float((w == 0).mean())


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_magnitude_pruning_reaches_encoder_and_decoder(name):
    from lstm_deploy.compress.prune import PruneConfig, prune_model

    model = CAPTION_ZOO[name](keras_module("keras3"))
    res = prune_model(model, caption_dataset(), PruneConfig(sparsity=0.5, method="magnitude"))
    assert [t.name.split(":")[0] for t in res.model.inputs] == ["image", "tokens"]
    assert _zeros(res.model, "Conv2D") == pytest.approx(0.5, abs=0.05)
    assert _zeros(res.model, "LSTM") == pytest.approx(0.5, abs=0.05) and _zeros(res.model, "LSTM", 1) == pytest.approx(0.5, abs=0.05)


def _zeroed(model, result):
    """The original with the removed units' recurrent rows, the head's rows and (merge) the image Dense's columns zeroed."""
    z = type(model).from_config(model.get_config())
    z.set_weights(model.get_weights())
    lstm = next(layer for layer in z.layers if layer.__class__.__name__ == "LSTM")
    gone = np.setdiff1d(np.arange(result.units_before[lstm.name]), result.kept[lstm.name][0])
    k, rk, b = lstm.get_weights()
    rk[gone, :] = 0.0
    lstm.set_weights([k, rk, b])
    head = z.layers[-1]
    hk, hb = head.get_weights()
    hk[gone, :] = 0.0
    head.set_weights([hk, hb])
    add = next((layer for layer in z.layers if layer.__class__.__name__ == "Add"), None)
    if add is not None:  # merge: the image features added to the LSTM lose the same units (relu(0) = 0)
        feat = next(layer for layer in z.layers if layer.__class__.__name__ == "Dense" and layer is not head)
        fk, fb = feat.get_weights()
        fk[:, gone], fb[gone] = 0.0, 0.0
        feat.set_weights([fk, fb])
    return z


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_unit_pruning_shrinks_the_decoder_lstm_and_the_dense_layers_joined_to_it(name):
    """Merge: the image Dense added to the LSTM shrinks with it; inject: the Dense layers giving h0/c0 do."""
    from lstm_deploy.compress.prune.units import unit_prune
    from lstm_deploy.load import flavours as bridge

    model = CAPTION_ZOO[name](keras_module("keras3"))
    res = unit_prune(model, 0.5)
    lstm = next(layer for layer in res.model.layers if layer.__class__.__name__ == "LSTM")
    assert res.units_after == {lstm.name: 3} and res.units_before == {lstm.name: 6}
    joined = [layer for layer in res.model.layers if layer.__class__.__name__ == "Dense" and layer is not res.model.layers[-1]]
    assert joined and all(layer.units == 3 for layer in joined)
    x = bridge.sample_inputs(model, seed=1)
    np.testing.assert_allclose(bridge.call(res.model, x), bridge.call(_zeroed(model, res), x), atol=1e-5)
    assert bridge.max_abs_diff(bridge.call(res.model, x), bridge.call(model, x)) > 1e-4  # units were really removed


def test_unit_pruning_says_why_a_shared_dense_cannot_shrink():
    from lstm_deploy.compress.prune.units import unit_prune

    k = keras_module("keras3")
    L = k.layers
    image, tokens = k.Input(CAP_IMAGE, name="image"), k.Input((CAP_LEN,), dtype="int32", name="tokens")
    feat = L.Dense(6, name="feat")(L.Flatten()(image))
    seq = L.LSTM(6, name="lstm")(L.Embedding(12, 4, mask_zero=True)(tokens))
    out = L.Concatenate()([L.Add(name="add")([feat, seq]), feat])  # 'feat' also feeds the Concatenate
    with pytest.raises(UnsupportedLayerError, match="merged in 'add' \\(Add\\) with 'feat', which also feeds other layers"):
        unit_prune(k.Model([image, tokens], out), 0.5)


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_prune_units_fine_tunes_captioners(name):
    from lstm_deploy.compress.prune import PruneConfig, prune_model

    res = prune_model(CAPTION_ZOO[name](keras_module("keras3")), caption_dataset(), PruneConfig(sparsity=0.5, method="units", steps=8))
    assert [t.name.split(":")[0] for t in res.model.inputs] == ["image", "tokens"]
    assert next(layer for layer in res.model.layers if layer.__class__.__name__ == "LSTM").units == 3


def test_prune_checks_each_input_against_the_model():
    from lstm_deploy.compress.prune import PruneConfig, prune_model
    from lstm_deploy.errors import DataError

    ds = caption_dataset()
    bad = type(ds)(**{**ds.__dict__, "x_train": {"image": ds.x_train["image"][:, :4], "tokens": ds.x_train["tokens"]}})
    with pytest.raises(DataError, match=r"x_train__image has sample shape \(4, 8, 3\); the model's input 'image' expects \(8, 8, 3\)"):
        prune_model(CAPTION_ZOO["merge_captioner"](keras_module("keras3")), bad, PruneConfig(sparsity=0.5))


def test_prune_tells_a_multi_input_model_given_plain_x_train_what_to_save():
    from lstm_deploy.compress.prune import PruneConfig, prune_model
    from lstm_deploy.errors import InputError

    ds = caption_dataset()
    plain = type(ds)(**{**ds.__dict__, "x_train": ds.x_train["image"], "x_test": ds.x_test["image"]})
    with pytest.raises(InputError, match=r"the model has 2 inputs \(image, tokens\); save one array per input"):
        prune_model(CAPTION_ZOO["merge_captioner"](keras_module("keras3")), plain, PruneConfig(sparsity=0.5))
