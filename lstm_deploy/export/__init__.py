"""Export Keras LSTM models to TFLite (fused LSTM kernels) and ONNX, with proven parity.

Public API:

* :func:`export_model` -- convert, check parity, write ``<artifact>`` + ``<artifact>.json``;
* :class:`ExportResult`, :class:`ExportConfig`, :data:`FORMATS` (the format registry);
* :func:`tflite_ops` / :func:`onnx_ops` -- the operators inside an artifact.

Nothing here imports TensorFlow until a function runs.

Example:
    >>> from lstm_deploy.export import export_model                 # doctest: +SKIP
    >>> res = export_model("model.keras", "out", quantize=("fp32", "dynamic"), data="d.npz")  # doctest: +SKIP
    >>> res[0].artifact, res[0].parity.rel_error                    # doctest: +SKIP
"""

from __future__ import annotations

from .api import (
           FORMATS,
           QUANTIZATIONS,
           ExportConfig,
           ExportFormat,
           ExportResult,
           ExportWarning,
           export_model,
)
from .onnx import onnx_ops
from .parity import ParityReport
from .tflite import tflite_ops

__all__ = ["FORMATS", "QUANTIZATIONS", "ExportConfig", "ExportFormat", "ExportResult", "ExportWarning", "ParityReport", "export_model",
           "onnx_ops", "tflite_ops"]
