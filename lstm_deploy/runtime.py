"""Run exported artifacts without TensorFlow: the module apps embed.

Imports only numpy plus, lazily, ``ai_edge_litert`` (``.tflite``) or ``onnxruntime``
(``.onnx``). It reads the ``<artifact>.json`` manifest written by
:func:`lstm_deploy.export.export_model` and handles what apps get wrong:

* **batching** -- TFLite artifacts have a fixed batch; inputs are split and the last
  chunk padded, ONNX artifacts take any batch;
* **quantized inputs/outputs** -- float inputs are quantized with the manifest's
  scale/zero point, outputs dequantized;
* **LSTM state** -- the fused TFLite LSTM keeps h/c in variable tensors across
  ``invoke()``; every chunk starts from ``reset_all_variables()``;
* **masking** -- masked models are exported for post-padded inputs plus a ``lengths``
  input; :meth:`Model.predict` derives the lengths from the padding itself;
* **streaming** -- single-step artifacts (``--streaming``) are driven by :meth:`Model.stream`.

Example:
    >>> from lstm_deploy.runtime import Model               # doctest: +SKIP
    >>> model = Model.load("out/model.fp32.tflite")         # doctest: +SKIP
    >>> probs = model.predict(x)                            # doctest: +SKIP
    >>> stream = Model.load("out/model.fp32.stream.tflite").stream()   # doctest: +SKIP
    >>> y_t = stream.step(x_t)                              # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "Model", "OnnxBackend", "RuntimeError_", "Stream", "TFLiteBackend", "TensorInfo", "fixed_batches",
           "lengths_from_padding", "read_manifest"]

MANIFEST_SUFFIX = ".json"


class RuntimeError_(Exception):
    """An artifact, manifest or input cannot be used (kept TF- and lstm_deploy.errors-free)."""


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of an artifact, as the runtime sees it."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.scale is not None and self.dtype in ("int8", "uint8", "int16")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}


# --------------------------------------------------------------------------- backends

class TFLiteBackend:
    """ai_edge_litert interpreter behind a signature runner (inputs/outputs by name).

    ``batch_size`` resizes the artifact's fixed batch (a benchmark adapter uses it; most fused
    LSTM graphs refuse because their state tensors have a fixed batch: ``RuntimeError_``).
    """

    format = "tflite"

    def __init__(self, source: Path | bytes, num_threads: int | None = None, *, batch_size: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        kwargs = {"model_content": source} if isinstance(source, (bytes, bytearray)) else {"model_path": str(source)}
        try:
            self._interpreter = Interpreter(num_threads=num_threads, **kwargs)
            if batch_size is not None:
                for detail in self._interpreter.get_input_details():
                    shape = [batch_size, *[int(d) for d in detail["shape"][1:]]]
                    self._interpreter.resize_tensor_input(detail["index"], shape, strict=False)
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise RuntimeError_(f"LiteRT cannot load this artifact: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}") from None
        self._runner = self._interpreter.get_signature_runner()
        self.inputs = {k: _tflite_info(k, d) for k, d in self._runner.get_input_details().items()}
        self.outputs = {k: _tflite_info(k, d) for k, d in self._runner.get_output_details().items()}
        if batch_size is not None:  # the signature keeps the artifact's batch; report the resized one
            self.inputs = {k: TensorInfo(i.name, (batch_size,) + i.shape[1:], i.dtype, i.scale, i.zero_point) for k, i in self.inputs.items()}

    def reset(self) -> None:
        """Zero the fused LSTM's h/c variable tensors (they persist across ``invoke()``)."""
        self._interpreter.reset_all_variables()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self._runner(**feeds).items()}


def _tflite_info(name: str, d: dict[str, Any]) -> TensorInfo:
    scale, zp = d.get("quantization", (0.0, 0))
    quant = scale != 0.0
    shape = tuple(int(s) if s >= 0 else None for s in d.get("shape_signature", d["shape"]))
    return TensorInfo(name, shape, np.dtype(d["dtype"]).name, float(scale) if quant else None, int(zp) if quant else None)


_ONNX_TYPES = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(float16)": "float16",
               "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(double)": "float64"}


class OnnxBackend:
    """onnxruntime InferenceSession; CPU unless ``providers`` names others (a benchmark adapter's choice)."""

    format = "onnx"

    def __init__(self, source: Path | bytes, num_threads: int | None = None, *, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # no "consider pre-processing" or provider chatter on stderr
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        data = bytes(source) if isinstance(source, (bytes, bytearray)) else str(source)
        try:
            self._session = ort.InferenceSession(data, options, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own C++ exception types
            raise RuntimeError_(f"ONNX Runtime cannot load this artifact: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}") from None
        self.providers: list[str] = list(self._session.get_providers())
        self.inputs = {i.name: _onnx_info(i) for i in self._session.get_inputs()}
        self.outputs = {o.name: _onnx_info(o) for o in self._session.get_outputs()}

    def reset(self) -> None:  # ONNX Runtime keeps no state between runs
        return None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = list(self.outputs)
        return dict(zip(names, self._session.run(names, feeds)))


def _onnx_info(node: Any) -> TensorInfo:
    shape = tuple(s if isinstance(s, int) else None for s in node.shape)
    return TensorInfo(node.name, shape, _ONNX_TYPES.get(node.type, node.type))


#: format name -> backend class; adding a runtime is one entry here.
BACKENDS: dict[str, Callable[..., Any]] = {"tflite": TFLiteBackend, "onnx": OnnxBackend}
SUFFIXES = {".tflite": "tflite", ".onnx": "onnx"}


# --------------------------------------------------------------------------- helpers


def lengths_from_padding(x: np.ndarray, masking: dict[str, Any]) -> np.ndarray:
    """Valid-step count per sequence for post-padded ``x``, as the manifest's masking defines.

    ``masking["kind"]`` is ``"masking"`` (a step is padding when all its features equal
    ``mask_value``) or ``"mask_zero"`` (token id 0 is padding). Raises when a padded
    step is followed by a real one (only post-padding is exact for the exported graph).

    Example:
        >>> x = np.array([[[1.0], [2.0], [0.0]]], dtype=np.float32)
        >>> lengths_from_padding(x, {"kind": "masking", "mask_value": 0.0}).tolist()
        [2]
    """
    if masking["kind"] == "mask_zero":
        valid = x != 0
    else:
        valid = np.any(x != masking.get("mask_value", 0.0), axis=-1)
    valid = valid.reshape(valid.shape[0], -1)
    lengths = valid.sum(axis=1).astype(np.int32)
    prefix = np.arange(valid.shape[1])[None, :] < lengths[:, None]
    if not np.array_equal(prefix, valid):
        bad = int(np.nonzero((prefix != valid).any(axis=1))[0][0])
        raise RuntimeError_(
            f"input sequence {bad} has padding steps before real steps; this masked artifact expects "
            "post-padded sequences (real steps first, then padding) -- re-pad with padding='post'"
        )
    return lengths


def fixed_batches(x: np.ndarray, size: int | None, *, chunk: int = 256) -> Iterator[tuple[np.ndarray, int]]:
    """Split ``x`` into batches of exactly ``size`` (the last one zero-padded), or of up to ``chunk`` when ``size`` is None.

    Yields ``(batch, n_real)``; callers keep ``outputs[:n_real]``. The one chunk-and-pad
    loop behind every fixed-batch artifact, stateful Keras model and streaming check.

    Example:
        >>> [(b.shape[0], n) for b, n in fixed_batches(np.zeros((5, 2)), 2)]
        [(2, 2), (2, 2), (2, 1)]
    """
    step = size or chunk
    for start in range(0, len(x), step):
        batch = x[start:start + step]
        n = len(batch)
        if size and n < size:
            batch = np.concatenate([batch, np.zeros((size - n,) + batch.shape[1:], batch.dtype)])
        yield batch, n


def _quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    if not info.quantized:
        return x.astype(info.dtype, copy=False)
    lim = np.iinfo(info.dtype)
    q = np.round(x.astype(np.float32) / info.scale) + info.zero_point  # type: ignore[operator]
    return np.clip(q, lim.min, lim.max).astype(info.dtype)


def _dequantize(y: np.ndarray, info: TensorInfo) -> np.ndarray:
    if not info.quantized:
        return y
    return (y.astype(np.float32) - info.zero_point) * np.float32(info.scale)  # type: ignore[operator]


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read the ``<artifact>.json`` manifest that sits beside ``path``."""
    mpath = Path(str(path) + MANIFEST_SUFFIX)
    if not mpath.exists():
        raise RuntimeError_(f"manifest {mpath} not found; artifacts are loaded together with the .json lstm-deploy export writes beside them")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RuntimeError_(f"manifest {mpath} is not valid JSON ({exc}); re-export the model") from None
    if not isinstance(manifest, dict):
        raise RuntimeError_(f"manifest {mpath} must be a JSON object; re-export the model")
    return manifest


def plain_manifest(fmt: str, backend: Any) -> dict[str, Any]:
    """What lstm-deploy assumes about an artifact that has no manifest: its first input and output, no masking, no state.

    Used by the benchmark for ``.tflite`` / ``.onnx`` files exported by other tools.
    """
    return {"format": fmt, "input_name": next(iter(backend.inputs)), "output_name": next(iter(backend.outputs)),
            "masking": None, "streaming": None}


# --------------------------------------------------------------------------- public API


class Model:
    """A loaded artifact plus its manifest.

    Example:
        >>> m = Model.load("model.fp32.onnx")        # doctest: +SKIP
        >>> m.predict(np.zeros((4, 10, 3), np.float32)).shape   # doctest: +SKIP
        (4, 2)
    """

    def __init__(self, source: str | Path | bytes, manifest: dict[str, Any] | None, *, num_threads: int | None = None,
                 name: str | None = None, **backend_options: Any) -> None:
        in_memory = isinstance(source, (bytes, bytearray))
        self.path = Path(name or "<memory>") if in_memory else Path(source)  # type: ignore[arg-type]
        fmt = (manifest or {}).get("format") or SUFFIXES.get(self.path.suffix)
        if fmt not in BACKENDS:
            raise RuntimeError_(f"{self.path}: format {fmt!r} is unknown; expected one of {', '.join(BACKENDS)}")
        if not in_memory and not self.path.exists():
            raise RuntimeError_(f"artifact {self.path} does not exist")
        self.format: str = fmt
        self._backend = BACKENDS[fmt](source if in_memory else self.path, num_threads, **backend_options)
        # a manifest written by another tool may lack names: the artifact's first input and output then
        self.manifest = {**plain_manifest(fmt, self._backend), **{k: v for k, v in (manifest or {}).items() if v is not None}}
        self.masking: dict[str, Any] | None = self.manifest.get("masking")
        self.streaming: dict[str, Any] | None = self.manifest.get("streaming")
        self.input_name: str = self.manifest["input_name"]
        self.output_name: str = self.manifest["output_name"]
        if self.input_name not in self._backend.inputs or self.output_name not in self._backend.outputs:
            raise RuntimeError_(
                f"artifact {self.path}: expected input {self.input_name!r} and output {self.output_name!r}, "
                f"found inputs {list(self._backend.inputs)} and outputs {list(self._backend.outputs)}; re-export the model"
            )
        self._check_manifest_dtypes()

    def _check_manifest_dtypes(self) -> None:
        """Input dtypes come from the manifest; a manifest that disagrees with its artifact is stale."""
        for entry in self.manifest.get("inputs") or []:
            info = self._backend.inputs.get(entry.get("name"))
            if info is not None and entry.get("dtype") and entry["dtype"] != info.dtype:
                raise RuntimeError_(f"manifest of {self.path} says input {info.name!r} is {entry['dtype']} but the artifact takes "
                                    f"{info.dtype}; the manifest belongs to another artifact -- re-export the model")

    @classmethod
    def load(cls, path: str | Path, *, num_threads: int | None = None, require_manifest: bool = True, **backend_options: Any) -> Model:
        """Load ``path`` (``.tflite`` or ``.onnx``) and the manifest ``path + '.json'``.

        With ``require_manifest=False`` an artifact without a manifest runs with :func:`plain_manifest`.
        """
        manifest = read_manifest(path) if require_manifest or Path(str(path) + MANIFEST_SUFFIX).exists() else None
        return cls(path, manifest, num_threads=num_threads, **backend_options)

    @property
    def backend(self) -> Any:
        """The backend running the artifact (:class:`TFLiteBackend` or :class:`OnnxBackend`)."""
        return self._backend

    @property
    def inputs(self) -> dict[str, TensorInfo]:
        return dict(self._backend.inputs)

    @property
    def outputs(self) -> dict[str, TensorInfo]:
        return dict(self._backend.outputs)

    @property
    def batch_size(self) -> int | None:
        """Fixed batch of the artifact, or ``None`` when any batch works (ONNX)."""
        return self._backend.inputs[self.input_name].shape[0]

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None, *, chunk: int = 256) -> np.ndarray:
        """Run independent sequences ``x`` (``(n, time, ...)``) and return the model output.

        State is reset before every invocation. For masked artifacts ``lengths`` is
        derived from the padding unless given.
        """
        if self.streaming:
            raise RuntimeError_(f"{self.path} is a streaming (single-step) artifact; use .stream().step(x_t)")
        x = np.asarray(x)
        info = self._backend.inputs[self.input_name]
        expected = info.shape[1:]
        if x.ndim != len(info.shape) or any(e is not None and e != g for e, g in zip(expected, x.shape[1:])):
            raise RuntimeError_(f"input x has shape {x.shape}; {self.path.name} expects (n, {', '.join(str(e) for e in expected)})")
        if self.masking and lengths is None:
            lengths = lengths_from_padding(x, self.masking)
        outs = []
        offset = 0
        for xb, n in fixed_batches(x, self.batch_size, chunk=chunk):
            feeds = {self.input_name: _quantize(xb, info)}
            if lengths is not None:
                lb = np.zeros(len(xb), np.int32)
                lb[:n] = np.asarray(lengths[offset:offset + n], dtype=np.int32)
                feeds[self.masking["lengths_input"]] = lb  # type: ignore[index]
            offset += n
            self._backend.reset()
            y = self._backend.run(feeds)[self.output_name]
            outs.append(_dequantize(y, self._backend.outputs[self.output_name])[:n])
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

    def stream(self) -> Stream:
        """A stateful stepper for streaming artifacts (exported with ``--streaming``)."""
        if not self.streaming:
            raise RuntimeError_(f"{self.path} is a full-sequence artifact; re-export with --streaming to step through sequences")
        return Stream(self)


class Stream:
    """Feeds one time step at a time, carrying h/c state explicitly.

    ``step(x_t)`` takes ``(batch, features)`` (or ``(features,)`` for batch 1) and
    returns the model output after that step; ``reset()`` starts a new sequence.
    """

    def __init__(self, model: Model) -> None:
        self._model = model
        spec = model.streaming or {}
        self._states: list[dict[str, str]] = list(spec.get("states", []))
        self.reset()

    def reset(self) -> None:
        """Zero every h/c state (start of a new sequence)."""
        inputs = self._model._backend.inputs
        batch = self._model.batch_size or 1
        self.state = {s["input"]: np.zeros((batch,) + tuple(inputs[s["input"]].shape[1:]), np.float32) for s in self._states}
        self._fresh = True

    def step(self, x_t: np.ndarray) -> np.ndarray:
        """Advance one step and return the output for it."""
        model = self._model
        info = model._backend.inputs[model.input_name]
        x_t = np.asarray(x_t)
        single = x_t.ndim == len(info.shape) - 1
        if single:
            x_t = x_t[None]
        batch = model.batch_size
        if batch is not None and len(x_t) != batch:
            raise RuntimeError_(f"step input has batch {len(x_t)}; {model.path.name} was exported with batch {batch}")
        current = len(next(iter(self.state.values()))) if self.state else len(x_t)
        if current != len(x_t):
            if not self._fresh:
                raise RuntimeError_(f"step input has batch {len(x_t)} but this sequence started with batch {current}; call reset() first")
            self.state = {k: np.zeros((len(x_t),) + v.shape[1:], v.dtype) for k, v in self.state.items()}
        self._fresh = False
        feeds = {model.input_name: _quantize(x_t, info), **self.state}
        out = model._backend.run(feeds)
        self.state = {s["input"]: out[s["output"]] for s in self._states}
        y = _dequantize(out[model.output_name], model._backend.outputs[model.output_name])
        return y[0] if single else y
