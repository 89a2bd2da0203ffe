"""What QAT bought: float vs post-training quantization vs QAT, per quantization mode.

Each artifact comes from the export core (:func:`lstm_deploy.export.convert`, calibrated on
:func:`lstm_deploy.export.calibration_set`) and runs through :class:`lstm_deploy.runtime.Model`:
the table scores exactly what ``lstm-deploy export`` writes for the same model and mode.

Example:
    >>> rows = compare_modes(float_model, qat_model, dataset, ["tflite-int8"], x_cal)  # doctest: +SKIP
    >>> rows[0].ptq_metric, rows[0].qat_metric                                            # doctest: +SKIP
    (0.95, 0.975)
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ... import metrics
from ...load.dataset import Dataset
from .config import TARGETS


@dataclass(frozen=True)
class ModeRow:
    """One quantization mode: primary metric of the float model, the PTQ artifact and the QAT artifact."""

    mode: str
    float_metric: float
    ptq_metric: float
    qat_metric: float
    ptq_bytes: int
    qat_bytes: int
    ptq_sha256: str
    qat_sha256: str


@dataclass
class QatReport:
    """Everything a QAT run measured; :meth:`to_dict` is the ``--report`` JSON. Metrics are fractions / RMSE on x_test."""

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

    def summary(self) -> dict[str, Any]:
        """The headline numbers (for the run report)."""
        out: dict[str, Any] = {"target": self.target, "metric": self.metric, "float": self.float_metric,
                               "simulated_quantized": self.fake_quant_metric, "best_epoch": self.best_epoch,
                               "epochs_run": self.epochs_run, "sparsity_after": self.sparsity_after}
        for row in self.modes:
            out[f"{row.mode} post-training"] = row.ptq_metric
            out[f"{row.mode} QAT"] = row.qat_metric
        return out


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
    """Convert the float model (post-training quantization) and the QAT model for each mode and score both on x_test."""
    from ...export import convert, load_artifact
    from ...load.flavours import predict

    x, y, task = dataset.x_test, dataset.y_test, dataset.task
    shape = tuple(x.shape[1:])
    float_metric = metrics.score(y, predict(float_model, x), task)
    rows = []
    for mode in modes:
        fmt, quant = TARGETS[mode]
        ptq, qat = (convert(m, fmt, quant, calibration=calibration, input_shape=shape) for m in (float_model, qat_model))
        rows.append(ModeRow(
            mode=mode, float_metric=round(float_metric, 6),
            ptq_metric=round(metrics.score(y, load_artifact(ptq).predict(x), task), 6),
            qat_metric=round(metrics.score(y, load_artifact(qat).predict(x), task), 6),
            ptq_bytes=ptq.size_bytes, qat_bytes=qat.size_bytes,
            ptq_sha256=hashlib.sha256(ptq.data).hexdigest(), qat_sha256=hashlib.sha256(qat.data).hexdigest(),
        ))
    return rows
