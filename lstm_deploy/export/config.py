"""The one configuration of an export (library, ``lstm-deploy export`` and the recipe ``export:`` stage).

Example:
    >>> ExportConfig(quantize=("fp32", "dynamic")).formats
    ('tflite', 'onnx')
    >>> ExportConfig(quantize=("int4",))
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --quantize: Input should be 'fp32', 'float16', 'dynamic' or 'int8' (got 'int4')
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..arm64.pins import CPUS as ARM64_CPUS
from ..config import StageConfig
from .convert import CALIBRATION_SAMPLES, FORMATS
from .parity import FP32_TOLERANCE

Format = Literal["tflite", "onnx"]
Quantization = Literal["fp32", "float16", "dynamic", "int8"]


class ExportConfig(StageConfig):
    """Everything that shapes an export.

    Attributes:
        formats: ``tflite`` and/or ``onnx``.
        quantize: modes; tflite has fp32/float16/dynamic/int8, onnx fp32/dynamic. A mode is applied
            to every requested format that has it; a mode none of them has is an error.
        batch_size: the fixed batch of TFLite artifacts (ONNX batch is dynamic).
        opset: ONNX opset (13-18).
        calibration_samples: training samples that calibrate full-integer int8.
        max_metric_drop: budget of quantized artifacts in the primary metric's unit (0.01 = one
            accuracy point; RMSE in target units). Default: one point, or 5 % of the source RMSE.
        fp32_tolerance: budget of fp32 artifacts on the relative L2 error.
        require_fused: fail instead of warning when an LSTM does not become a fused kernel.
        streaming: single-step artifacts with explicit h/c state inputs/outputs.
        lengths_input: masked models only: artifacts take an extra int32 ``lengths`` input and
            post-padded sequences, instead of exactly the Keras model's input (the default finds
            the padding inside the graph).
        parity_samples: x_test samples compared (``None``: all of them).
        seed: seed of the random parity inputs (without data) and of the calibration choice.
        verify_arch: also run the parity check on these emulated architectures (``arm64``; docs/arm64.md).
        verify_cpus: the qemu CPU models of ``verify_arch``.
    """

    stage: Literal["export"] = "export"
    formats: tuple[Format, ...] = Field(default=("tflite", "onnx"), min_length=1)
    quantize: tuple[Quantization, ...] = Field(default=("fp32",), min_length=1)
    batch_size: int = Field(default=1, ge=1)
    opset: int = Field(default=17, ge=13, le=18)
    calibration_samples: int = Field(default=CALIBRATION_SAMPLES, ge=1)
    max_metric_drop: float | None = Field(default=None, ge=0.0)
    fp32_tolerance: float = Field(default=FP32_TOLERANCE, gt=0.0)
    require_fused: bool = False
    streaming: bool = False
    lengths_input: bool = False
    parity_samples: int | None = Field(default=None, ge=1)
    seed: int = 0
    verify_arch: tuple[Literal["arm64"], ...] = ()
    verify_cpus: tuple[str, ...] = Field(default=ARM64_CPUS, min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "ExportConfig":
        for q in self.quantize:
            if not any(q in FORMATS[fmt].quantizations for fmt in self.formats):
                supported = "; ".join(f"{fmt}: {', '.join(FORMATS[fmt].quantizations)}" for fmt in self.formats)
                raise ValueError(f"--quantize {q}: not available for {' or '.join(self.formats)} (supported: {supported}); "
                                 "choose another mode or add a format that has it")
        if self.streaming and "int8" in self.quantize:
            raise ValueError("--quantize int8 with --streaming is not supported (the state inputs would need calibration); "
                             "use fp32, float16 or dynamic")
        if self.streaming and self.lengths_input:
            raise ValueError("--lengths-input with --streaming: streaming artifacts take one step at a time and have no lengths input; "
                             "drop one of the two")
        if self.verify_arch and self.streaming:
            raise ValueError("--verify-arch with --streaming is not supported yet (streaming artifacts are stepped); drop one of the two")
        return self

    def jobs(self) -> list[tuple[str, str]]:
        """Every (format, quantization) this config exports, in order."""
        return [(fmt, q) for fmt in dict.fromkeys(self.formats) for q in dict.fromkeys(self.quantize) if q in FORMATS[fmt].quantizations]

    def skipped(self) -> list[str]:
        """``format/mode`` pairs requested but not available for that format."""
        return [f"{fmt}/{q}" for fmt in dict.fromkeys(self.formats) for q in dict.fromkeys(self.quantize) if q not in FORMATS[fmt].quantizations]
