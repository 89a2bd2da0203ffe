"""What QAT bought: float vs post-training quantization vs QAT, per quantization mode.

Example:
    >>> rows = compare_modes(float_model, qat_model, dataset, ["tflite-int8"], x_cal)  # doctest: +SKIP
    >>> rows[0].ptq_metric, rows[0].qat_metric                                            # doctest: +SKIP
    (95.0, 97.5)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ...load.dataset import Dataset
from .metrics import metric_name, score
from .runtimes import convert, predict_artifact


@dataclass(frozen=True)
class ModeRow:
    """One quantization mode: metric of the float model, the PTQ artifact and the QAT artifact."""

    mode: str
    float_metric: float
    ptq_metric: float
    qat_metric: float
    ptq_bytes: int
    qat_bytes: int


@dataclass
class QatReport:
    """Everything a QAT run measured; :meth:`to_dict` is the ``--report`` JSON."""

    target: str
    per_channel: bool
    task: str
    metric: str
    float_metric: float
    fake_quant_metric: float
    qat_metric: float
    epochs_run: int
    best_epoch: int
    history: list[dict[str, float]]
    sparsity_before: float
    sparsity_after: float
    pruned_zeros_kept: bool
    activation_ranges: dict[str, dict[str, list[float]]]
    modes: list[ModeRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["modes"] = [asdict(r) for r in self.modes]
        return d


def quantized_weights(model: Any) -> list[np.ndarray]:
    """The weights QAT quantizes (LSTM kernels, Dense/Conv1D kernels, embeddings) of a plain model."""
    out = []
    for layer in model.layers:
        for w in layer.weights:
            short = str(w.name).split("/")[-1].split(":")[0]
            if short in ("kernel", "recurrent_kernel", "embeddings"):
                out.append(np.asarray(w.numpy()))
    return out


def sparsity(model: Any) -> float:
    """Fraction of exactly-zero values among :func:`quantized_weights`."""
    ws = quantized_weights(model)
    total = sum(w.size for w in ws)
    return float(sum(int((w == 0).sum()) for w in ws) / total) if total else 0.0


def zeros_kept(before: Any, after: Any) -> bool:
    """Whether every quantized weight that is zero in ``before`` is still zero in ``after``."""
    return all(bool((a[b == 0] == 0).all()) for b, a in zip(quantized_weights(before), quantized_weights(after)))


def compare_modes(
    float_model: Any, qat_model: Any, dataset: Dataset, modes: Sequence[str], calibration: np.ndarray
) -> list[ModeRow]:
    """Convert the float model (post-training quantization) and the QAT model for each mode and score both."""
    from .metrics import predict

    x, y = dataset.x_test, dataset.y_test
    float_metric = score(predict(float_model, x), y, dataset.task)
    rows = []
    for mode in modes:
        ptq = convert(float_model, mode, calibration)
        qat = convert(qat_model, mode, calibration)
        rows.append(ModeRow(
            mode=mode, float_metric=round(float_metric, 4),
            ptq_metric=round(score(predict_artifact(ptq, mode, x), y, dataset.task), 4),
            qat_metric=round(score(predict_artifact(qat, mode, x), y, dataset.task), 4),
            ptq_bytes=len(ptq), qat_bytes=len(qat),
        ))
    return rows


def summary_lines(report: QatReport) -> list[str]:
    """Human-readable lines for logs (the CLI prints a rich table instead)."""
    lines = [f"{metric_name(report.task)}: float {report.float_metric:.2f}, QAT (Keras) {report.qat_metric:.2f}"]
    for r in report.modes:
        lines.append(f"{r.mode}: float {r.float_metric:.2f} | PTQ {r.ptq_metric:.2f} ({r.ptq_bytes} B) | QAT {r.qat_metric:.2f} ({r.qat_bytes} B)")
    lines.append(f"sparsity: {report.sparsity_before:.4f} -> {report.sparsity_after:.4f} (pruned zeros kept: {report.pruned_zeros_kept})")
    return lines
