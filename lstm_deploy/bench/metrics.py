"""Task metrics on ``x_test`` and agreement with the source Keras model.

Example:
    >>> import numpy as np
    >>> task_metrics(np.array([0, 0]), np.array([[0.9, 0.1], [0.2, 0.8]]), "classification")["accuracy"]
    0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np


def class_predictions(outputs: np.ndarray) -> np.ndarray:
    """Class indices from model outputs: argmax, or a 0.5 threshold for one sigmoid unit."""
    out = outputs.reshape(len(outputs), -1)
    if out.shape[1] == 1:
        return (out[:, 0] > 0.5).astype(np.int64)
    return out.argmax(axis=1)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``y_true`` or ``y_pred``."""
    scores = []
    for c in np.union1d(y_true, y_pred):
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        fp = float(np.sum((y_pred == c) & (y_true != c)))
        fn = float(np.sum((y_pred != c) & (y_true == c)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def task_metrics(y_true: np.ndarray, outputs: np.ndarray, task: str) -> dict[str, Any]:
    """``accuracy`` + ``macro_f1`` for classification, ``mae`` + ``rmse`` for regression.

    Argument order follows scikit-learn: targets first, model outputs second. Targets are
    class indices or one-hot rows; outputs are scores/probabilities (argmax) or one sigmoid unit.
    """
    if task == "classification":
        labels = y_true.argmax(axis=-1) if y_true.ndim == 2 and y_true.shape[1] > 1 else y_true.reshape(-1).astype(np.int64)
        pred = class_predictions(outputs)
        return {"accuracy": float(np.mean(pred == labels)), "macro_f1": macro_f1(labels, pred)}
    diff = outputs.reshape(len(outputs), -1).astype(np.float64) - y_true.reshape(len(y_true), -1).astype(np.float64)
    return {"mae": float(np.mean(np.abs(diff))), "rmse": float(np.sqrt(np.mean(diff**2)))}


def agreement(outputs: np.ndarray, reference: np.ndarray, task: str) -> dict[str, Any]:
    """How close ``outputs`` are to the source model's: max abs / relative error, and label agreement."""
    out = outputs.reshape(len(outputs), -1).astype(np.float64)
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    if out.shape != ref.shape:
        return {"agreement": None, "max_abs_diff": None, "rel_error": None}
    max_abs = float(np.max(np.abs(out - ref)))
    rel = float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-12))
    agree = float(np.mean(class_predictions(out) == class_predictions(ref))) if task == "classification" else None
    return {"agreement": agree, "max_abs_diff": max_abs, "rel_error": rel}
