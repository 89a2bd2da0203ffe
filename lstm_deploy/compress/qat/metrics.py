"""Loss and metric for the fine-tune and the report, derived from the data and model.

Classification is scored by accuracy in percent (higher is better); regression by RMSE
(lower is better). The loss matches the model's output: probabilities (softmax /
sigmoid) or logits, integer or one-hot labels.

Example:
    >>> score(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]), "classification")
    50.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _tf
from ...load.dataset import Dataset


def metric_name(task: str) -> str:
    return "accuracy_%" if task == "classification" else "rmse"


def higher_is_better(task: str) -> bool:
    return task == "classification"


def score(pred: np.ndarray, y: np.ndarray, task: str, logits: bool | None = None) -> float:
    """Accuracy (%) or RMSE of predictions ``pred`` against targets ``y``.

    ``logits``: whether a single-column binary output is a logit (threshold 0) or a
    probability (threshold 0.5); ``None`` guesses from the value range.
    """
    pred = np.asarray(pred)
    if task == "classification":
        if pred.ndim == 1 or pred.shape[-1] == 1:
            p = pred.reshape(len(pred))
            if logits is None:
                logits = not (p.min() >= 0 and p.max() <= 1)
            cut = 0.0 if logits else 0.5
            labels = (p > cut).astype(np.int64)
        else:
            labels = pred.argmax(axis=-1)
        truth = y.argmax(axis=-1) if (y.ndim == 2 and y.shape[-1] > 1) else y.reshape(len(y)).astype(np.int64)
        return float((labels == truth).mean() * 100.0)
    diff = pred.reshape(len(pred), -1) - np.asarray(y, np.float32).reshape(len(y), -1)
    return float(np.sqrt(np.mean(diff**2)))


def _is_probability(out: np.ndarray) -> bool:
    if out.min() < 0 or out.max() > 1:
        return False
    return out.shape[-1] == 1 or bool(np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))


def loss_for(model: Any, dataset: Dataset) -> Any:
    """A tf_keras loss object that fits ``model``'s outputs and ``dataset``'s targets."""
    tfk = _tf.tf_keras()
    if dataset.task == "regression":
        return tfk.losses.MeanSquaredError()
    sample = np.asarray(model(dataset.x_train[:64], training=False))
    probs = _is_probability(sample)
    if sample.shape[-1] == 1:
        return tfk.losses.BinaryCrossentropy(from_logits=not probs)
    one_hot = dataset.y_train.ndim == 2 and dataset.y_train.shape[-1] > 1
    cls = tfk.losses.CategoricalCrossentropy if one_hot else tfk.losses.SparseCategoricalCrossentropy
    return cls(from_logits=not probs)


def predict(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Batched inference of a Keras model (either flavour) in inference mode."""
    outs = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(outs, axis=0)
