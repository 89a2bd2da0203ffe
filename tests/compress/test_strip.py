"""Stripping tfmot's pruning wrappers keeps predictions: checked here on every sample, and the library's guard seen firing.

A masked model (Embedding(mask_zero) -> LSTMs) is where stripping can go wrong: tfmot's stock
wrapper drops the Keras mask, so the wrapped model runs its LSTMs over padding while the
stripped one masks it. lstm-deploy's wrapper passes the mask on; ``magnitude_prune`` also
compares stripped and wrapped predictions on 64 test samples and raises if they differ.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy import _tf
from lstm_deploy.compress.prune import PruneConfig, magnitude_prune
from lstm_deploy.compress.prune import magnitude as magnitude_mod
from lstm_deploy.errors import StageError
from lstm_deploy.load.dataset import validate_arrays

CONFIG = PruneConfig(sparsity=0.5, epochs=2, batch_size=8)


def _masked_model_and_data():
    k = _tf.tf_keras()
    k.utils.set_random_seed(1)
    L = k.layers
    model = k.Sequential([k.Input((7,), dtype="int32"), L.Embedding(15, 4, mask_zero=True), L.LSTM(4, return_sequences=True),
                          L.LSTM(3), L.Dense(2, activation="softmax")])
    rng = np.random.default_rng(0)
    x = rng.integers(1, 15, size=(40, 7)).astype(np.int32)
    x[::2, 4:] = 0  # every other sequence is post-padded
    y = rng.integers(0, 2, 40)
    return model, validate_arrays({"x_train": x[:32], "y_train": y[:32], "x_test": x[32:], "y_test": y[32:]})


def test_stripped_model_predicts_what_the_wrapped_model_predicted(monkeypatch):
    import tensorflow_model_optimization as tfmot

    seen = []
    real_strip = tfmot.sparsity.keras.strip_pruning

    def spy(model):  # the real strip_pruning; the test keeps the wrapped model it was given
        seen.append(model)
        return real_strip(model)

    monkeypatch.setattr(tfmot.sparsity.keras, "strip_pruning", spy)
    model, ds = _masked_model_and_data()
    result = magnitude_prune(model, ds, CONFIG)
    (wrapped,) = seen
    assert any("prune_low_magnitude" in layer.name for layer in wrapped.layers)
    x = np.concatenate([ds.x_train, ds.x_test])  # every sample, padded ones included (the library checks 64 test samples)
    np.testing.assert_allclose(result.model(x, training=False).numpy(), wrapped(x, training=False).numpy(), atol=1e-6)
    assert all(v >= 0.5 - 1 / 16 for v in result.sparsity.values()), result.sparsity


def test_guard_fires_when_the_wrappers_drop_the_mask(monkeypatch):
    """With tfmot's stock wrapper (no mask passed on) the stripped model differs and magnitude_prune refuses it."""
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    monkeypatch.setattr(magnitude_mod, "_mask_keeping_wrapper", lambda: pruning_wrapper.PruneLowMagnitude)
    model, ds = _masked_model_and_data()
    with pytest.raises(StageError, match=r"stripping the pruning wrappers changed predictions by \d\.\d\de[-+]\d+ \(> 1e-5\)"):
        magnitude_prune(model, ds, CONFIG)
