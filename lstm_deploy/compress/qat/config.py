"""The frozen configuration of a quantization-aware training run.

A :class:`QatConfig` names the runtime whose quantization is simulated (``target``),
the weight granularity, and the fine-tune budget. :func:`scheme_for` turns the
target into the concrete list of things to fake-quantize, so the training layers
never branch on target names.

Example:
    >>> cfg = QatConfig(target="tflite-int8", epochs=3)
    >>> scheme_for(cfg).quantize_states
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import InputError

Target = Literal["tflite-int8", "tflite-dynamic", "onnx-dynamic"]
TARGETS: tuple[str, ...] = ("tflite-int8", "tflite-dynamic", "onnx-dynamic")


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


@dataclass(frozen=True)
class QatConfig:
    """Settings for :func:`lstm_deploy.qat.quantize_aware_train`.

    Args:
        target: the runtime to simulate: ``tflite-int8`` (full integer), ``tflite-dynamic``
            or ``onnx-dynamic`` (int8 weights, float activations).
        per_channel: one weight scale per output channel instead of per tensor (per gate
            for TFLite LSTM kernels, which is what the fused kernel uses).
        epochs: fine-tune epochs; 0 only snaps weights onto the int8 grid.
        batch_size: fine-tune batch size.
        learning_rate: Adam learning rate for the fine-tune.
        val_fraction: share of the training set held out to pick the best epoch when
            the data has no validation split.
        preserve_sparsity: keep weights that are exactly zero at zero (pruned models).
        distill: train the quantized model to reproduce the float model's outputs
            (its logits, when the head is a softmax/sigmoid Dense; MSE) instead of the
            labels: it still gets a gradient where the float model fits the training set
            perfectly. Epochs are still selected on the labelled validation metric.
        calibration_samples: training samples used to calibrate activation ranges and,
            in the report, the post-training-quantization baseline.
        seed: random seed for the split and the fine-tune.
    """

    target: Target = "tflite-int8"
    per_channel: bool = False
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-4
    val_fraction: float = 0.15
    preserve_sparsity: bool = True
    distill: bool = True
    calibration_samples: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError(f"--target: expected one of {', '.join(TARGETS)}, got {self.target!r}")
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise InputError(f"--epochs: expected an integer >= 0, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"--batch-size: expected an integer >= 1, got {self.batch_size!r}")
        if not (0.0 < float(self.learning_rate) < 1.0):
            raise InputError(f"--learning-rate: expected a number in (0, 1), got {self.learning_rate!r}")
        if not (0.0 <= float(self.val_fraction) < 1.0):
            raise InputError(f"--val-fraction: expected a number in [0, 1), got {self.val_fraction!r}")
        if not isinstance(self.calibration_samples, int) or self.calibration_samples < 1:
            raise InputError(f"--calibration-samples: expected an integer >= 1, got {self.calibration_samples!r}")


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
