"""Compare an artifact with its source Keras model: errors, agreement, metric delta.

``rel_error`` is ``max |artifact - source| / max |source|`` over all outputs of the
parity inputs (so a softmax output's rel_error is close to its absolute error).
fp32 artifacts must reach ``rel_error <= 1e-5``. Quantized artifacts are judged on the
task metric: accuracy (absolute drop, default budget 0.01 = 1 point) or, for
regression, MAE (relative increase, default budget 0.05 = 5 %).

Example:
    >>> report = compare(reference, produced, quantization="fp32")    # doctest: +SKIP
    >>> report.passed, report.rel_error                                # doctest: +SKIP
    (True, 8.9e-08)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

FP32_TOLERANCE = 1e-5
DEFAULT_DROP = {"classification": 0.01, "regression": 0.05}


@dataclass(frozen=True)
class ParityReport:
    """Outcome of one artifact's parity check (written into its manifest)."""

    inputs: str  # "x_test" or "random(seed=0)"
    n_samples: int
    max_abs_error: float
    rel_error: float
    argmax_agreement: float | None
    task: str | None
    metric: str | None
    metric_source: float | None
    metric_artifact: float | None
    metric_drop: float | None
    budget: str
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def predicted_labels(y: np.ndarray) -> np.ndarray:
    """Class per sample (per step for sequence outputs): argmax, or > 0.5 for one sigmoid unit."""
    return (y[..., 0] > 0.5).astype(np.int64) if y.shape[-1] == 1 else y.argmax(axis=-1)


def true_labels(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Labels shaped like ``predicted_labels(pred)`` (one-hot rows become indices)."""
    target = predicted_labels(pred).shape
    if y.ndim == pred.ndim and y.shape[-1] == pred.shape[-1] and pred.shape[-1] > 1:
        return y.argmax(axis=-1)
    return np.asarray(y).reshape(target).astype(np.int64)


def _metric(task: str, y: np.ndarray, pred: np.ndarray) -> tuple[str, float]:
    if task == "classification":
        return "accuracy", float(np.mean(true_labels(y, pred) == predicted_labels(pred)))
    err = pred.reshape(len(pred), -1).astype(np.float64) - np.asarray(y, np.float64).reshape(len(y), -1)
    return "mae", float(np.mean(np.abs(err)))


def compare(
    reference: np.ndarray,
    produced: np.ndarray,
    *,
    quantization: str,
    inputs: str,
    labels: np.ndarray | None = None,
    task: str | None = None,
    max_metric_drop: float | None = None,
    fp32_tolerance: float = FP32_TOLERANCE,
) -> ParityReport:
    """Judge ``produced`` (artifact outputs) against ``reference`` (source model outputs).

    Args:
        reference / produced: outputs on the same inputs, same shape.
        quantization: ``fp32`` is judged on ``rel_error``; other modes on the metric.
        inputs: where the inputs came from (recorded).
        labels, task: targets and task of the inputs (``None`` when random inputs were used).
        max_metric_drop: budget; default 0.01 accuracy (classification), 0.05 relative MAE (regression).
    """
    reference = np.asarray(reference, np.float64)
    produced = np.asarray(produced, np.float64)
    if reference.shape != produced.shape:
        return ParityReport(inputs, len(reference), float("inf"), float("inf"), None, task, None, None, None, None, "shape",
                            False, f"artifact output shape {produced.shape} differs from the model's {reference.shape}")
    diff = np.abs(produced - reference)
    max_abs = float(diff.max()) if diff.size else 0.0
    rel = max_abs / max(float(np.abs(reference).max()) if reference.size else 0.0, 1e-12)
    agreement = None
    if reference.ndim >= 2 and (reference.shape[-1] > 1 or task == "classification"):
        agreement = float(np.mean(predicted_labels(reference) == predicted_labels(produced)))
    metric = m_src = m_art = drop = None
    if labels is not None and task is not None:
        metric, m_src = _metric(task, labels, reference)
        _, m_art = _metric(task, labels, produced)
        drop = (m_src - m_art) if task == "classification" else (m_art - m_src) / max(m_src, 1e-12)
    if quantization == "fp32":
        budget = f"rel_error <= {fp32_tolerance:g}"
        passed = rel <= fp32_tolerance
        message = f"rel_error {rel:.3g} {'<=' if passed else '>'} {fp32_tolerance:g}"
        if not passed:
            message += "".join([f", argmax agreement {agreement:.3f}" if agreement is not None else "",
                                f", {metric} {m_src:.4f} -> {m_art:.4f}" if metric else ""])
    elif drop is None:
        budget = "not checked (no labelled data)"
        passed = True
        message = f"rel_error {rel:.3g}, argmax agreement {agreement}; metric not checked: pass --data with labels to enforce a budget"
    else:
        limit = DEFAULT_DROP[task] if max_metric_drop is None else max_metric_drop  # type: ignore[index]
        kind = "absolute accuracy drop" if task == "classification" else "relative MAE increase"
        budget = f"{kind} <= {limit:g}"
        passed = drop <= limit + 1e-12
        message = f"{metric} {m_src:.4f} -> {m_art:.4f} ({kind} {drop:.4f} {'<=' if passed else '>'} {limit:g})"
    return ParityReport(inputs, len(reference), max_abs, rel, agreement, task, metric, m_src, m_art, drop, budget, passed, message)
