"""The one configuration of a quantization-aware training run (library, ``lstm-deploy quantize``, recipes).

A :class:`QatConfig` names the runtime whose quantization is simulated (``target``),
the weight granularity, and the fine-tune budget. :func:`scheme_for` turns the
target into the concrete list of things to fake-quantize, so the training layers
never branch on target names.

Example:
    >>> cfg = QatConfig(target="tflite-int8")
    >>> scheme_for(cfg).quantize_states, cfg.budget(270).steps
    (True, 600)
    >>> TARGETS["onnx-dynamic"]
    ('onnx', 'dynamic')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from ...config import StageConfig
from ...export.convert import CALIBRATION_SAMPLES
from ..budget import MAX_STEPS, MIN_STEPS, Budget, plan_budget

Target = Literal["tflite-int8", "tflite-dynamic", "onnx-dynamic"]
#: QAT target -> the (export format, quantization) whose artifact it prepares.
TARGETS: dict[str, tuple[str, str]] = {"tflite-int8": ("tflite", "int8"), "tflite-dynamic": ("tflite", "dynamic"),
                                       "onnx-dynamic": ("onnx", "dynamic")}


@dataclass(frozen=True)
class QatScheme:
    """What one target runtime quantizes, as the training layers need to know it.

    ``lstm_gate_blocks``: LSTM kernels are quantized per gate (4 blocks, TFLite splits
    the Keras kernel into four tensors) or as one tensor (1 block, ONNX ``W``/``R``).
    ``quantize_activations``: fake-quantize layer inputs/outputs to int8 with calibrated
    ranges. ``quantize_states``: inside the LSTM recurrence, simulate the full-integer
    kernel: gate pre-activations clipped to int16 Q3.12 ([-8, 8)), cell state int16 with a
    power-of-two range, hidden state int8 with a calibrated range.
    """

    target: str
    per_channel: bool
    lstm_gate_blocks: int
    quantize_activations: bool
    quantize_states: bool


class QatConfig(StageConfig):
    """Settings for :func:`lstm_deploy.compress.qat.quantize_aware_train`.

    Attributes:
        target: the runtime to simulate: ``tflite-int8`` (full integer), ``tflite-dynamic``
            or ``onnx-dynamic`` (int8 weights, float activations).
        per_channel: one weight scale per output channel instead of per tensor (per gate
            for TFLite LSTM kernels, which is what the fused kernel uses).
        steps: the fine-tune budget in optimizer steps, exactly; 0 only snaps weights onto the int8 grid.
        epochs: the budget in epochs, exactly (used when ``steps`` is not set).
        min_steps, max_steps: bounds of the default budget (10 epochs, at least ``min_steps``,
            at most ``max_steps``; see :mod:`lstm_deploy.compress.budget`).
        patience: early stopping: validation checks (20 per run) without a new best.
        batch_size: fine-tune batch size.
        learning_rate: Adam learning rate for the fine-tune.
        val_fraction: unused (kept so older recipes parse): the check kept is selected on ``x_val`` or
            half of ``x_test``, never on training rows (:mod:`lstm_deploy.compress.holdout`).
        preserve_sparsity: keep weights that are exactly zero at zero (pruned models).
        distill: train the quantized model to reproduce the float model's outputs
            (its logits, when the head is a softmax/sigmoid Dense; MSE) instead of the
            labels: it still gets a gradient where the float model fits the training set
            perfectly. Checks are still selected on the labelled validation metric.
        calibration_samples: training samples that calibrate activation ranges and, in the
            report, the post-training-quantization baseline (export uses the same ones).
        compare: modes converted and scored side by side (float / post-training / QAT);
            ``None``: the target only; ``()``: none.
        seed: random seed for the split, the calibration choice and the fine-tune.
        keep_better: convert the target's post-training and QAT artifacts, score both on held-out
            rows (x_val, else a seeded half of x_test; never training rows) and hand back the float
            model when its post-training artifact scores strictly higher, so that QAT never hands
            over less than post-training quantization. ``False``: always the QAT model.
    """

    stage: Literal["quantize"] = "quantize"
    target: Target = "tflite-int8"
    per_channel: bool = False
    steps: int | None = Field(default=None, ge=0)
    epochs: int | None = Field(default=None, ge=0)
    min_steps: int = Field(default=MIN_STEPS, ge=1)
    max_steps: int = Field(default=MAX_STEPS, ge=1)
    patience: int = Field(default=5, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-4, gt=0.0, lt=1.0)
    val_fraction: float = Field(default=0.15, ge=0.0, lt=1.0)
    preserve_sparsity: bool = True
    distill: bool = True
    calibration_samples: int = Field(default=CALIBRATION_SAMPLES, ge=1)
    compare: tuple[Target, ...] | None = None
    seed: int = 0
    keep_better: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> "QatConfig":
        if self.min_steps > self.max_steps:
            raise ValueError(f"--min-steps: expected at most --max-steps ({self.max_steps}), got {self.min_steps}")
        return self

    @property
    def finetunes(self) -> bool:
        """Whether this config fine-tunes at all (a budget of 0 steps or epochs only snaps weights)."""
        return self.steps > 0 if self.steps is not None else self.epochs != 0

    def budget(self, n_train: int) -> Budget:
        """The fine-tune budget for ``n_train`` training samples."""
        return plan_budget(n_train, self.batch_size, steps=self.steps, epochs=self.epochs, min_steps=self.min_steps, max_steps=self.max_steps)

    def intent(self) -> dict[str, object]:
        """What the QAT model is for, recorded in the saved file (:mod:`lstm_deploy.load.intent`): ``export`` writes it by default."""
        return {"qat_target": self.target, "export": list(TARGETS[self.target])}

    def compared_modes(self) -> tuple[str, ...]:
        """The modes the report puts side by side (the target when ``compare`` is not set)."""
        return (self.target,) if self.compare is None else tuple(dict.fromkeys(self.compare))


def scheme_for(config: QatConfig) -> QatScheme:
    """The quantization a target runtime applies, as a :class:`QatScheme`."""
    full_int = config.target == "tflite-int8"
    return QatScheme(
        target=config.target,
        per_channel=config.per_channel,
        lstm_gate_blocks=1 if config.target == "onnx-dynamic" else 4,
        quantize_activations=full_int,
        quantize_states=full_int,
    )
