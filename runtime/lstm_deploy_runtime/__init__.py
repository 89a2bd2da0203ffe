"""lstm-deploy-runtime: run exported artifacts without TensorFlow (numpy plus LiteRT or ONNX Runtime).

Reads the ``<artifact>.json`` manifest written by ``lstm-deploy export``, validates it
(:mod:`.manifest`, one schema: :mod:`.schema`), checks the artifact's SHA-256 against it and
handles what apps get wrong:

* **batching** -- TFLite artifacts have a fixed batch (inputs split, the last chunk padded);
* **quantized I/O** -- float inputs quantized with the manifest's scale/zero point, outputs dequantized;
* **LSTM state** -- the fused TFLite LSTM keeps h/c across ``invoke()``: every call starts from
  ``reset_all_variables()``; ``--streaming`` artifacts carry state explicitly (:meth:`Model.stream`);
* **masking** -- masked artifacts find their padding themselves; ``--lengths-input`` ones get
  ``lengths`` derived from the post-padding;
* **threads** -- one :class:`Model` may be shared by any number of threads and answers exactly as
  if called alone. A LiteRT interpreter (and the LSTM state in it) must not be shared, so each
  TFLite call takes one from a pool (``concurrency``, default 1: calls run one at a time; each
  more interpreter is one more copy of the model's buffers). ONNX Runtime sessions are shared.

Example:
    >>> model = Model.load("out/model.fp32.tflite")                    # doctest: +SKIP
    >>> probs = model.predict(x)                                       # doctest: +SKIP
    >>> y_t = Model.load("out/model.fp32.stream.tflite").stream().step(x_t)   # doctest: +SKIP
"""

__version__ = "0.3.0"

from .backends import BACKENDS, SUFFIXES, OnnxBackend, TFLiteBackend
from .batching import fixed_batches, lengths_from_padding, rows
from .errors import ArtifactMismatchError, ManifestError, RuntimeError_
from .generate import generate
from .inputs import check_inputs, predict_inputs
from .manifest import FORMAT_VERSION, MANIFEST_SUFFIX, parse_manifest, plain_manifest, read_manifest, validate_manifest
from .model import Model
from .preprocessing import finish_outputs, prepare_inputs
from .streaming import Stream
from .tensors import TensorInfo
from .tokenizers import NAMED_PATTERNS

__all__ = ["BACKENDS", "FORMAT_VERSION", "MANIFEST_SUFFIX", "NAMED_PATTERNS", "SUFFIXES", "ArtifactMismatchError", "ManifestError", "Model",
           "OnnxBackend", "RuntimeError_", "Stream", "TFLiteBackend", "TensorInfo", "__version__", "check_inputs", "finish_outputs",
           "fixed_batches", "generate", "lengths_from_padding", "parse_manifest", "plain_manifest", "predict_inputs", "prepare_inputs",
           "read_manifest", "rows", "validate_manifest"]
