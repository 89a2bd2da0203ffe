"""Quantization-aware training for LSTM models, ending in fused int8 kernels.

tfmot refuses LSTM layers, and an LSTM wrapped for QAT converts to a slow ``WHILE``
loop. Here QAT is used for *training only*: LSTMs run as fake-quantized stand-ins
(weights on the int8 grid; for full-int8 TFLite also the kernel's int8 hidden state,
int16 cell state and clipped gates), Dense/Conv1D/Conv2D/Embedding through tfmot's
``QuantizeWrapperV2``; then the model is stripped back to plain layers whose weights
are on the target's grid, which export to the fused LSTM ops.

Example:
    >>> from lstm_deploy.compress.qat import QatConfig, quantize_aware_train
    >>> result = quantize_aware_train(model, dataset, QatConfig(target="tflite-int8", epochs=5))  # doctest: +SKIP
    >>> result.report.modes[0]                                                                      # doctest: +SKIP
"""

from __future__ import annotations

from .api import QatResult, quantize_aware_train
from .config import TARGETS, QatConfig, QatScheme, scheme_for
from .report import ModeRow, QatReport

__all__ = ["TARGETS", "ModeRow", "QatConfig", "QatReport", "QatResult", "QatScheme", "quantize_aware_train", "scheme_for"]
