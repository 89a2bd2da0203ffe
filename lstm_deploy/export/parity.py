"""Compare an artifact with its source Keras model: errors, agreement, metric drop.

fp32 artifacts are judged on :func:`lstm_deploy.metrics.rel_error` (relative L2 error
over all outputs of the parity inputs, default budget ``1e-5``). Quantized artifacts are
judged on the primary metric (:mod:`lstm_deploy.metrics`): the drop from the source model
must stay within ``max_metric_drop``, in the metric's own unit -- accuracy 0.01 = one
point; RMSE in target units. Without an explicit budget: one accuracy point, or 5 % of
the source model's RMSE.

Example:
    >>> report = compare(reference, produced, quantization="fp32", inputs="x_test")   # doctest: +SKIP
    >>> report.passed, report.rel_error                                                # doctest: +SKIP
    (True, 8.9e-08)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import metrics

#: Measured by benchmarks/fp32_gate.py: correct fused fp32 kernels (LiteRT, ONNX Runtime) stay at
#: <= 6e-7 over random/trained models, lengths 10-200 and input scales 0.1-100; state carried
#: across invoke, wrong masking and a single wrong weight start near 1.5e-4. 1e-5 sits between.
FP32_TOLERANCE = 1e-5
DEFAULT_ACCURACY_DROP = 0.01
DEFAULT_RMSE_INCREASE = 0.05  # relative to the source model's RMSE, when no budget is given


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


def default_budget(task: str, metric_source: float) -> float:
    """The metric-drop budget when none is given: one accuracy point, or 5 % of the source RMSE."""
    return DEFAULT_ACCURACY_DROP if task == "classification" else DEFAULT_RMSE_INCREASE * metric_source


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
        quantization: ``fp32`` is judged on ``rel_error``; other modes on the primary metric.
        inputs: where the inputs came from (recorded).
        labels, task: targets and task of the inputs (``None`` when random inputs were used).
        max_metric_drop: budget in the primary metric's unit (see module docstring).
    """
    reference = np.asarray(reference, np.float64)
    produced = np.asarray(produced, np.float64)
    if reference.shape != produced.shape:
        return ParityReport(inputs, len(reference), float("inf"), float("inf"), None, task, None, None, None, None, "shape",
                            False, f"artifact output shape {produced.shape} differs from the model's {reference.shape}")
    max_abs = metrics.max_abs_error(produced, reference)
    rel = metrics.rel_error(produced, reference)
    agreement = None
    if reference.ndim >= 2 and (reference.shape[-1] > 1 or task == "classification"):
        agreement = metrics.argmax_agreement(produced, reference)
    metric = m_src = m_art = drop = None
    if labels is not None and task is not None:
        metric = metrics.primary_metric(task)
        m_src, m_art = metrics.score(labels, reference, task), metrics.score(labels, produced, task)
        drop = metrics.metric_drop(m_src, m_art, task)
    if quantization == "fp32":
        budget = f"rel_error <= {fp32_tolerance:g}"
        passed = rel <= fp32_tolerance
        message = f"rel_error {rel:.3g} {'<=' if passed else '>'} {fp32_tolerance:g}"
        if not passed:
            message += "".join([f", argmax agreement {agreement:.3f}" if agreement is not None else "",
                                f", {metric} {metrics.format_metric(metric, m_src)} -> {metrics.format_metric(metric, m_art)}" if metric else ""])
    elif drop is None:
        budget = "not checked (no labelled data)"
        passed = True
        message = f"rel_error {rel:.3g}, argmax agreement {agreement}; metric not checked: pass --data with labels to enforce a budget"
    else:
        assert metric is not None and task is not None and m_src is not None and m_art is not None  # set together above
        limit = default_budget(task, m_src) if max_metric_drop is None else max_metric_drop
        budget = f"{metric} drop <= {metrics.format_drop(metric, limit).lstrip('+')}"
        passed = drop <= limit + 1e-12
        message = (f"{metric} {metrics.format_metric(metric, m_src)} -> {metrics.format_metric(metric, m_art)} "
                   f"(drop {metrics.format_drop(metric, drop)} {'<=' if passed else '>'} {metrics.format_drop(metric, limit).lstrip('+')})")
    return ParityReport(inputs, len(reference), max_abs, rel, agreement, task, metric, m_src, m_art, drop, budget, passed, message)
