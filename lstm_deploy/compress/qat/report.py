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


#: QAT's promise: the quantized artifact within half an accuracy point of float (or 5 % of its RMSE).
CLOSE_ACCURACY, CLOSE_RMSE = 0.005, 0.05


@dataclass(frozen=True)
class ModeRow:
    """One quantization mode: primary metric of the float model, the PTQ artifact and the QAT artifact.

    ``simulation_agreement``: for the QAT target, the share of x_test samples where the QAT
    artifact predicts the class the simulation predicted (regression: 1 - relative L2 error).
    """

    mode: str
    float_metric: float
    ptq_metric: float
    qat_metric: float
    ptq_bytes: int
    qat_bytes: int
    ptq_sha256: str
    qat_sha256: str
    simulation_agreement: float | None = None


def close_enough(task: str, float_metric: float, metric: float) -> bool:
    """Whether ``metric`` is within QAT's promise of ``float_metric`` (see ``CLOSE_*``)."""
    from ... import metrics

    limit = CLOSE_ACCURACY if task == "classification" else CLOSE_RMSE * abs(float_metric)
    return metrics.metric_drop(float_metric, metric, task) <= limit + 1e-12


@dataclass
class QatReport:
    """Everything a QAT run measured; :meth:`to_dict` is the ``--report`` JSON. Metrics are fractions / RMSE on x_test.

    ``simulated_metric`` is the training model under simulated quantization (ranges calibrated
    as the converter does, the int8 output head applied); ``modes`` score the real artifacts.
    """

    target: str
    per_channel: bool
    task: str
    metric: str
    float_metric: float
    simulated_metric: float
    qat_metric: float
    best_step: int
    finetune: dict[str, Any]
    sparsity_before: float
    sparsity_after: float
    pruned_zeros_kept: bool
    activation_ranges: dict[str, dict[str, list[float]]]
    modes: list[ModeRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verdict: str = ""
    #: which model was handed over (``"qat"``, or ``"post-training"``: the float model) and why; ``None``: not judged
    choice: dict[str, Any] | None = None

    @property
    def handed_over(self) -> str:
        """``"qat"`` or ``"post-training"`` (the float model, whose export with the target's quantization is the better artifact)."""
        return (self.choice or {}).get("handed_over", "qat")

    @property
    def target_row(self) -> ModeRow | None:
        return next((r for r in self.modes if r.mode == self.target), None)

    @property
    def simulation_agreement(self) -> float | None:
        """How often the simulation predicted what the target artifact does (see :class:`ModeRow`)."""
        row = self.target_row
        return row.simulation_agreement if row else None

    def judge(self) -> None:
        """Write ``verdict``: did QAT bring the target artifact within 0.5 points (5 % RMSE) of float, and if not, what instead."""
        from ...metrics import format_metric

        row = self.target_row
        if row is None:
            self.verdict = f"{self.target} artifact not converted (compare={[r.mode for r in self.modes]}); export it to check the metric"
            return
        m = lambda v: format_metric(self.metric, v)  # noqa: E731
        promise = "0.5 points" if self.task == "classification" else "5 % of its RMSE"
        numbers = f"float {m(row.float_metric)}, post-training {m(row.ptq_metric)}, QAT {m(row.qat_metric)}"
        if close_enough(self.task, row.float_metric, row.qat_metric):
            needed = "" if not close_enough(self.task, row.float_metric, row.ptq_metric) else "; post-training quantization was already that close"
            self.verdict = f"QAT {self.target} is within {promise} of float ({numbers}){needed}"
            return
        fallback = "`lstm-deploy export --quantize dynamic` (int8 weights, float activations; ONNX Runtime's is the fastest CPU route) or float16"
        if not self.target.endswith("int8"):
            fallback = "float16 or fp32"
        self.verdict = (f"QAT could NOT bring {self.target} within {promise} of float ({numbers}); "
                        f"use {fallback} instead, or a larger model")
        self.warnings.append(self.verdict)

    def record_choice(self, choice: Any) -> None:
        """Add the :class:`~lstm_deploy.compress.qat.choice.Choice` to the report and its reason to the verdict.

        When the float model is handed over and its post-training artifact is within the promise,
        the verdict says that instead of advising another mode (what ``export`` writes is fine).
        """
        from ...metrics import format_metric

        self.choice = choice.to_dict()
        row = self.target_row
        if choice.handed_over == "post-training" and row is not None and close_enough(self.task, row.float_metric, row.ptq_metric):
            if self.verdict in self.warnings:
                self.warnings.remove(self.verdict)
            m = lambda v: format_metric(self.metric, v)  # noqa: E731
            self.verdict = (f"post-training {self.target} is within {'0.5 points' if self.task == 'classification' else '5 % of its RMSE'} "
                            f"of float and QAT is not (float {m(row.float_metric)}, post-training {m(row.ptq_metric)}, QAT {m(row.qat_metric)})")
        self.verdict = f"{self.verdict}; {choice.reason}" if self.verdict else choice.reason

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["modes"] = [asdict(r) for r in self.modes]
        d["simulation_agreement"] = self.simulation_agreement
        return d

    def summary(self) -> dict[str, Any]:
        """The headline numbers (for the run report)."""
        out: dict[str, Any] = {"target": self.target, "metric": self.metric, "float": self.float_metric,
                               "simulated_quantized": self.simulated_metric, "best_step": self.best_step,
                               "steps_run": self.finetune.get("steps_run"), "sparsity_after": self.sparsity_after,
                               "simulation_agreement": self.simulation_agreement, "handed_over": self.handed_over,
                               "verdict": self.verdict}
        for row in self.modes:
            out[f"{row.mode} post-training"] = row.ptq_metric
            out[f"{row.mode} QAT"] = row.qat_metric
        return out


def quantized_weights(model: Any) -> list[np.ndarray]:
    """The weights QAT quantizes (LSTM kernels, Dense/Conv kernels, embeddings) of a plain model."""
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


def convert_pair(float_model: Any, qat_model: Any, mode: str, calibration: Any, x: Any) -> tuple[Any, Any]:
    """The post-training artifact of ``float_model`` and the artifact of ``qat_model`` for ``mode`` (``x``: sample inputs, for the shape)."""
    from ...export import convert

    fmt, quant = TARGETS[mode]
    shape = None if isinstance(x, dict) else tuple(x.shape[1:])  # several inputs: the plan takes the model's shapes
    ptq, qat = (convert(m, fmt, quant, calibration=calibration, input_shape=shape) for m in (float_model, qat_model))
    return ptq, qat


def compare_modes(
    float_model: Any, qat_model: Any, dataset: Dataset, modes: Sequence[str], calibration: Any,
    simulated: tuple[str, np.ndarray] | None = None, converted: dict[str, tuple[Any, Any]] | None = None,
) -> list[ModeRow]:
    """Convert the float model (post-training quantization) and the QAT model for each mode and score both on x_test.

    ``simulated``: ``(mode, outputs)`` of the QAT simulation on x_test; that mode's row says
    how often its artifact agrees with them. For a model with several inputs, x_test and
    ``calibration`` are ``{input name: array}``. ``converted``: ``{mode: (ptq, qat)}`` artifacts
    already converted (:func:`convert_pair`), reused instead of converting again.
    """
    from ...export import load_artifact
    from ...load.flavours import predict

    x, y, task = dataset.x_test, dataset.y_test, dataset.task
    float_metric = metrics.score(y, predict(float_model, x), task)
    rows = []
    for mode in modes:
        ptq, qat = (converted or {}).get(mode) or convert_pair(float_model, qat_model, mode, calibration, x)
        qat_out = load_artifact(qat).predict(x)
        agree = None
        if simulated is not None and simulated[0] == mode:
            sim = simulated[1]
            agree = metrics.argmax_agreement(qat_out, sim) if task == "classification" else 1.0 - metrics.rel_error(qat_out, sim)
        rows.append(ModeRow(
            mode=mode, float_metric=round(float_metric, 6),
            ptq_metric=round(metrics.score(y, load_artifact(ptq).predict(x), task), 6),
            qat_metric=round(metrics.score(y, qat_out, task), 6),
            ptq_bytes=ptq.size_bytes, qat_bytes=qat.size_bytes,
            ptq_sha256=hashlib.sha256(ptq.data).hexdigest(), qat_sha256=hashlib.sha256(qat.data).hexdigest(),
            simulation_agreement=None if agree is None else round(float(agree), 6),
        ))
    return rows
