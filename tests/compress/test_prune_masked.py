"""Magnitude pruning keeps Keras masks flowing through tfmot's wrappers (Embedding(mask_zero), Masking)."""

from __future__ import annotations

import numpy as np

from lstm_deploy.load.dataset import validate_arrays
from lstm_deploy.compress.prune import PruneConfig, prune_model


def test_masked_model_prunes_and_strip_keeps_predictions(keras3):
    L = keras3.layers
    keras3.utils.set_random_seed(1)
    model = keras3.Sequential([keras3.Input((7,), dtype="int32"), L.Embedding(15, 4, mask_zero=True),
                               L.LSTM(4, return_sequences=True), L.LSTM(3), L.Dense(2, activation="softmax")])
    rng = np.random.default_rng(0)
    x = rng.integers(1, 15, size=(40, 7)).astype(np.int32)
    x[::2, 4:] = 0  # half the sequences are post-padded
    ds = validate_arrays({"x_train": x[:32], "y_train": rng.integers(0, 2, 32), "x_test": x[32:], "y_test": rng.integers(0, 2, 8)})
    # magnitude_prune raises StageError if stripping changes predictions -- which it did when
    # the wrappers dropped the mask and fine-tuning ran the LSTMs over padding.
    result = prune_model(model, ds, PruneConfig(sparsity=0.5, epochs=2, batch_size=8))
    assert result.report.achieved_sparsity >= 0.49
    kernels = [w for layer in result.model.layers for w in layer.get_weights() if w.ndim == 2]
    assert all(np.mean(k == 0) >= 0.49 for k in kernels)
