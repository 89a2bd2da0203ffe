"""Pruning captioners: magnitude pruning reaches the CNN encoder and the decoder LSTM; unit pruning says why not."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.errors import UnsupportedLayerError
from lstm_deploy.load.dataset import validate_arrays

from tests.zoo import CAP_IMAGE, CAP_LEN, CAPTION_ZOO, keras_module


def _dataset(n: int = 32):
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "test"):
        tokens = rng.integers(1, 12, (n, CAP_LEN))
        tokens[:, 3:] = 0  # post-padded prefixes
        arrays |= {f"x_{split}__image": rng.standard_normal((n, *CAP_IMAGE)), f"x_{split}__tokens": tokens, f"y_{split}": rng.integers(1, 12, n)}
    return validate_arrays(arrays, model_inputs={"image": CAP_IMAGE, "tokens": (CAP_LEN,)})


def _zeros(model, cls: str, weight: int = 0) -> float:
    w = next(layer for layer in model.layers if layer.__class__.__name__ == cls).get_weights()[weight]
    return float((w == 0).mean())


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_magnitude_pruning_reaches_encoder_and_decoder(name):
    from lstm_deploy.compress.prune import PruneConfig, prune_model

    model = CAPTION_ZOO[name](keras_module("keras3"))
    res = prune_model(model, _dataset(), PruneConfig(sparsity=0.5, method="magnitude"))
    assert [t.name.split(":")[0] for t in res.model.inputs] == ["image", "tokens"]
    assert _zeros(res.model, "Conv2D") == pytest.approx(0.5, abs=0.05)
    assert _zeros(res.model, "LSTM") == pytest.approx(0.5, abs=0.05) and _zeros(res.model, "LSTM", 1) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("name, why", [("merge_captioner", "feeds the multi-input layer"), ("inject_captioner", "initial_state comes from other layers")])
def test_unit_pruning_explains_why_the_decoder_lstm_keeps_its_units(name, why):
    from lstm_deploy.compress.prune import PruneConfig, prune_model

    with pytest.raises(UnsupportedLayerError, match=why):
        prune_model(CAPTION_ZOO[name](keras_module("keras3")), _dataset(), PruneConfig(sparsity=0.5, method="units"))


def test_prune_checks_each_input_against_the_model():
    from lstm_deploy.compress.prune import PruneConfig, prune_model
    from lstm_deploy.errors import DataError

    ds = _dataset()
    bad = type(ds)(**{**ds.__dict__, "x_train": {"image": ds.x_train["image"][:, :4], "tokens": ds.x_train["tokens"]}})
    with pytest.raises(DataError, match=r"x_train__image has sample shape \(4, 8, 3\); the model's input 'image' expects \(8, 8, 3\)"):
        prune_model(CAPTION_ZOO["merge_captioner"](keras_module("keras3")), bad, PruneConfig(sparsity=0.5))


def test_prune_tells_a_multi_input_model_given_plain_x_train_what_to_save():
    from lstm_deploy.compress.prune import PruneConfig, prune_model
    from lstm_deploy.errors import InputError

    ds = _dataset()
    plain = type(ds)(**{**ds.__dict__, "x_train": ds.x_train["image"], "x_test": ds.x_test["image"]})
    with pytest.raises(InputError, match=r"the model has 2 inputs \(image, tokens\); save one array per input"):
        prune_model(CAPTION_ZOO["merge_captioner"](keras_module("keras3")), plain, PruneConfig(sparsity=0.5))
