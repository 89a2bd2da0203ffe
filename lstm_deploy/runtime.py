"""Run exported artifacts without TensorFlow: :mod:`lstm_deploy_runtime`, re-exported under its old name.

The runtime ships as its own distribution, ``lstm-deploy-runtime`` (numpy plus LiteRT or ONNX
Runtime, no TensorFlow), which ``lstm-deploy`` depends on at the same version. Apps install that;
``from lstm_deploy.runtime import Model`` keeps working here. See ``docs/runtime.md``.

Example:
    >>> from lstm_deploy.runtime import Model, RuntimeError_
    >>> Model.__module__
    'lstm_deploy_runtime.model'
"""

from __future__ import annotations

from lstm_deploy_runtime import (BACKENDS, FORMAT_VERSION, MANIFEST_SUFFIX, NAMED_PATTERNS, SUFFIXES, ArtifactMismatchError, ManifestError,
                                 Model, OnnxBackend, RuntimeError_, Stream, TFLiteBackend, TensorInfo, check_inputs, finish_outputs,
                                 fixed_batches, generate, lengths_from_padding, parse_manifest, plain_manifest, predict_inputs,
                                 prepare_inputs, read_manifest, rows, validate_manifest)
from lstm_deploy_runtime.inputs import run_all as _run_all
from lstm_deploy_runtime.tensors import dequantize as _dequantize
from lstm_deploy_runtime.tensors import quantize as _quantize

__all__ = ["BACKENDS", "FORMAT_VERSION", "MANIFEST_SUFFIX", "NAMED_PATTERNS", "SUFFIXES", "ArtifactMismatchError", "ManifestError", "Model",
           "OnnxBackend", "RuntimeError_", "Stream", "TFLiteBackend", "TensorInfo", "check_inputs", "finish_outputs", "fixed_batches",
           "generate", "lengths_from_padding", "parse_manifest", "plain_manifest", "predict_inputs", "prepare_inputs", "read_manifest",
           "rows", "validate_manifest", "_dequantize", "_quantize", "_run_all"]
