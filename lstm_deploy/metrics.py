"""Task metrics, the primary metric, metric drop, agreement and ``rel_error``: one definition each.

NumPy only (the TensorFlow-free runtime, the benchmark workers and the reports use it).
Every value is a **fraction** (accuracy 0.95, never 95); percent appears only when a
value is printed (:func:`format_metric`). The primary metric is ``accuracy`` for
classification (higher is better) and ``rmse`` for regression (lower is better, in the
targets' own units); :func:`metric_drop` is positive when a model got worse, in the
primary metric's unit, which is what every ``--max-metric-drop`` means.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 1, 1])
    >>> out = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> round(score(y, out, "classification"), 4)
    0.6667
    >>> round(metric_drop(0.95, 0.94, "classification"), 6)
    0.01
    >>> format_metric("accuracy", 0.9512)
    '95.12 %'
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRIMARY = {"classification": "accuracy", "regression": "rmse"}


def primary_metric(task: str) -> str:
    """The metric every gate and search judges: ``accuracy`` or ``rmse``."""
    return PRIMARY[task]


def higher_is_better(task: str) -> bool:
    """True for classification (accuracy), False for regression (RMSE)."""
    return task == "classification"


def predicted_classes(outputs: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """Class per sample (per step for sequence outputs): argmax, or a threshold for one sigmoid unit.

    A single output column is thresholded at 0.5 (probabilities) or at 0 when ``logits``.

    Example:
        >>> predicted_classes(np.array([[0.2, 0.8], [0.7, 0.3]])).tolist()
        [1, 0]
        >>> predicted_classes(np.array([[0.7], [0.2]])).tolist()
        [1, 0]
    """
    out = np.asarray(outputs)
    if out.ndim == 1:
        out = out[:, None]
    if out.shape[-1] == 1:
        return (out[..., 0] > (0.0 if logits else 0.5)).astype(np.int64)
    return out.argmax(axis=-1)


def true_classes(y: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Labels shaped like ``predicted_classes(outputs)``: one-hot rows become indices."""
    y = np.asarray(y)
    out = np.asarray(outputs)
    target = predicted_classes(out).shape
    if y.ndim == out.ndim and out.ndim >= 2 and y.shape[-1] == out.shape[-1] and out.shape[-1] > 1:
        y = y.argmax(axis=-1)
    return y.reshape(target).astype(np.int64)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``y_true`` or ``y_pred``."""
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    scores = []
    for c in np.union1d(y_true, y_pred):
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        fp = float(np.sum((y_pred == c) & (y_true != c)))
        fn = float(np.sum((y_pred != c) & (y_true == c)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def _errors(y: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    out = np.asarray(outputs, np.float64)
    return out.reshape(len(out), -1) - np.asarray(y, np.float64).reshape(len(out), -1)


def task_metrics(y: np.ndarray, outputs: np.ndarray, task: str, *, logits: bool = False) -> dict[str, float]:
    """``accuracy`` + ``macro_f1`` (classification) or ``mae`` + ``rmse`` (regression), as fractions / target units.

    Targets first, model outputs second (scikit-learn's order). Targets are class indices
    or one-hot rows; outputs are scores, probabilities (argmax) or one sigmoid unit.
    """
    if task == "classification":
        pred = predicted_classes(outputs, logits=logits)
        labels = true_classes(y, outputs)
        return {"accuracy": float(np.mean(pred == labels)), "macro_f1": macro_f1(labels, pred)}
    err = _errors(y, outputs)
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}


def score(y: np.ndarray, outputs: np.ndarray, task: str, *, logits: bool = False) -> float:
    """The primary metric of ``outputs`` against targets ``y`` (accuracy fraction or RMSE)."""
    if task == "classification":
        return float(np.mean(predicted_classes(outputs, logits=logits) == true_classes(y, outputs)))
    return float(np.sqrt(np.mean(_errors(y, outputs) ** 2)))


def metric_drop(before: float, after: float, task: str) -> float:
    """How much worse ``after`` is than ``before`` (positive = worse), in the primary metric's unit."""
    return before - after if higher_is_better(task) else after - before


def better(a: float, b: float, task: str) -> bool:
    """Whether metric value ``a`` is strictly better than ``b``."""
    return a > b if higher_is_better(task) else a < b


def argmax_agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Share of samples (and steps) whose predicted class equals the reference's."""
    return float(np.mean(predicted_classes(outputs) == predicted_classes(reference)))


def rel_error(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Relative L2 error ``||outputs - reference|| / ||reference||`` over all values.

    One definition for export's fp32 gate, the benchmark's agreement columns and every
    report: an L2 ratio averages over all outputs, so one saturated softmax value does not
    decide it the way a max-based ratio would.

    Example:
        >>> rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
        0.0
    """
    out = np.asarray(outputs, np.float64).reshape(-1)
    ref = np.asarray(reference, np.float64).reshape(-1)
    return float(np.linalg.norm(out - ref) / max(float(np.linalg.norm(ref)), 1e-12))


def max_abs_error(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Largest absolute difference between ``outputs`` and ``reference``."""
    diff = np.abs(np.asarray(outputs, np.float64) - np.asarray(reference, np.float64))
    return float(diff.max()) if diff.size else 0.0


def agreement(outputs: np.ndarray, reference: np.ndarray, task: str) -> dict[str, Any]:
    """How close ``outputs`` are to the source model's: ``max_abs_diff``, ``rel_error`` and, for classification, ``agreement``."""
    out, ref = np.asarray(outputs), np.asarray(reference)
    if out.shape != ref.shape:
        return {"agreement": None, "max_abs_diff": None, "rel_error": None}
    return {
        "agreement": argmax_agreement(out, ref) if task == "classification" else None,
        "max_abs_diff": max_abs_error(out, ref),
        "rel_error": rel_error(out, ref),
    }


def format_metric(name: str, value: float | None) -> str:
    """A metric as people read it: accuracy and F1 in percent, errors as numbers.

    Example:
        >>> format_metric("rmse", 0.01234)
        '0.01234'
    """
    if value is None:
        return "-"
    if name in ("accuracy", "macro_f1", "agreement"):
        return f"{100.0 * value:.2f} %"
    return f"{value:.4g}"


def format_drop(name: str, drop: float) -> str:
    """A metric drop as people read it: accuracy in points, errors as numbers."""
    if name in ("accuracy", "macro_f1"):
        return f"{100.0 * drop:+.2f} points"
    return f"{drop:+.4g}"
