"""Export Keras LSTM models to TFLite (fused LSTM kernels) and ONNX, with proven parity.

Public API:

* :func:`export_model` -- convert, check parity, write ``<artifact>`` + ``<artifact>.json``;
* :class:`ExportConfig` (the one schema of the export stage), :class:`ExportResult`;
* :func:`convert` / :func:`load_artifact` / :func:`calibration_set` -- the artifact core every
  other stage converts through; :data:`FORMATS` (the format registry);
* :func:`tflite_ops` / :func:`onnx_ops` -- the operators inside an artifact.

Nothing here imports TensorFlow until a function runs.

Example:
    >>> from lstm_deploy.export import ExportConfig, export_model                     # doctest: +SKIP
    >>> res = export_model("model.keras", "out", ExportConfig(quantize=("fp32", "dynamic")), data="d.npz")  # doctest: +SKIP
    >>> res[0].artifact, res[0].parity.rel_error                                      # doctest: +SKIP
"""

from __future__ import annotations

from .api import ExportResult, ExportWarning, export_model
from .config import ExportConfig
from .convert import CALIBRATION_SAMPLES, FORMATS, QUANTIZATIONS, Converted, ExportFormat, calibration_set, convert, load_artifact
from .onnx import onnx_ops
from .parity import ParityReport
from .tflite import tflite_ops

__all__ = ["CALIBRATION_SAMPLES", "FORMATS", "QUANTIZATIONS", "Converted", "ExportConfig", "ExportFormat", "ExportResult", "ExportWarning",
           "ParityReport", "calibration_set", "convert", "export_model", "load_artifact", "onnx_ops", "tflite_ops"]
