"""Run exported artifacts without TensorFlow: the module apps embed (one file, copy it freely).

Imports only numpy plus, lazily, ``ai_edge_litert`` (``.tflite``) or ``onnxruntime`` (``.onnx``),
reads the ``<artifact>.json`` manifest written by :func:`lstm_deploy.export.export_model` and
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

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "Model", "OnnxBackend", "RuntimeError_", "Stream", "TFLiteBackend", "TensorInfo", "check_inputs", "finish_outputs",
           "fixed_batches", "generate", "lengths_from_padding", "predict_inputs", "prepare_inputs", "read_manifest", "rows"]

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


class TFLiteBackend:
    """ai_edge_litert interpreters behind signature runners, safe to share between threads.

    Every :meth:`run` takes an interpreter from a pool of ``concurrency`` (waiting while all are
    busy), resets its LSTM state when asked, runs, copies the outputs out and gives it back.
    ``batch_size`` resizes the fixed batch (a benchmark adapter's option; most fused LSTM graphs refuse).
    """

    format = "tflite"

    def __init__(self, source: Path | bytes, num_threads: int | None = None, *, batch_size: int | None = None,
                 concurrency: int = 1) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise RuntimeError_(f"concurrency: expected a whole number >= 1 of interpreters, got {concurrency!r}")
        self._pool: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
        self._all = [self._interpreter(source, num_threads, batch_size) for _ in range(concurrency)]
        for slot in self._all:
            self._pool.put(slot)
        runner = self._all[0][1]
        self.inputs = {k: _tflite_info(k, d) for k, d in runner.get_input_details().items()}
        self.outputs = {k: _tflite_info(k, d) for k, d in runner.get_output_details().items()}
        if batch_size is not None:  # the signature keeps the artifact's batch; report the resized one
            self.inputs = {k: TensorInfo(i.name, (batch_size,) + i.shape[1:], i.dtype, i.scale, i.zero_point) for k, i in self.inputs.items()}

    @staticmethod
    def _interpreter(source: Path | bytes, num_threads: int | None, batch_size: int | None) -> tuple[Any, Any]:
        from ai_edge_litert.interpreter import Interpreter

        from ._tf import silenced_stderr  # TensorFlow-free: only file-descriptor plumbing

        kwargs = {"model_content": bytes(source)} if isinstance(source, (bytes, bytearray)) else {"model_path": str(source)}
        try:
            with silenced_stderr():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" (shown with -vv)
                interpreter = Interpreter(num_threads=num_threads, **kwargs)
                if batch_size is not None:
                    for detail in interpreter.get_input_details():
                        shape = [batch_size, *[int(d) for d in detail["shape"][1:]]]
                        interpreter.resize_tensor_input(detail["index"], shape, strict=False)
                interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise RuntimeError_(f"LiteRT cannot load this artifact: {_first_line(exc)}") from None
        return interpreter, interpreter.get_signature_runner()

    @property
    def concurrency(self) -> int:
        """How many calls can run at the same time (interpreters in the pool)."""
        return len(self._all)

    def run(self, feeds: dict[str, np.ndarray], *, reset: bool = True) -> dict[str, np.ndarray]:
        """One invocation on a free interpreter; ``reset`` zeroes its LSTM state first (an independent sequence batch)."""
        interpreter, runner = self._pool.get()
        try:
            if reset:
                interpreter.reset_all_variables()
            return {k: np.array(v) for k, v in runner(**feeds).items()}  # copies: the buffers belong to the interpreter
        finally:
            self._pool.put((interpreter, runner))


def _tflite_info(name: str, d: dict[str, Any]) -> TensorInfo:
    scale, zp = d.get("quantization", (0.0, 0))
    quant = scale != 0.0
    shape = tuple(int(s) if s >= 0 else None for s in d.get("shape_signature", d["shape"]))
    return TensorInfo(name, shape, np.dtype(d["dtype"]).name, float(scale) if quant else None, int(zp) if quant else None)


_ONNX_TYPES = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(float16)": "float16",
               "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(double)": "float64"}


class OnnxBackend:
    """onnxruntime InferenceSession (CPU unless ``providers`` says otherwise): stateless and safe to share between threads."""

    format = "onnx"
    concurrency = None  # no limit: ONNX Runtime runs concurrent calls in parallel ("concurrency" is accepted and unused)

    def __init__(self, source: Path | bytes, num_threads: int | None = None, *, providers: list[str] | None = None,
                 concurrency: int = 1) -> None:
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
            raise RuntimeError_(f"ONNX Runtime cannot load this artifact: {_first_line(exc)}") from None
        self.providers: list[str] = list(self._session.get_providers())
        self.inputs = {i.name: _onnx_info(i) for i in self._session.get_inputs()}
        self.outputs = {o.name: _onnx_info(o) for o in self._session.get_outputs()}

    def run(self, feeds: dict[str, np.ndarray], *, reset: bool = True) -> dict[str, np.ndarray]:
        names = list(self.outputs)
        return dict(zip(names, self._session.run(names, feeds)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


def _onnx_info(node: Any) -> TensorInfo:
    shape = tuple(s if isinstance(s, int) else None for s in node.shape)
    return TensorInfo(node.name, shape, _ONNX_TYPES.get(node.type, node.type))


#: format name -> backend class; adding a runtime is one entry here.
BACKENDS: dict[str, Callable[..., Any]] = {"tflite": TFLiteBackend, "onnx": OnnxBackend}
SUFFIXES = {".tflite": "tflite", ".onnx": "onnx"}


def lengths_from_padding(x: np.ndarray, masking: dict[str, Any]) -> np.ndarray:
    """Real steps per post-padded sequence, for ``--lengths-input`` artifacts (manifest ``masking``).

    Padding is a step whose features all equal ``mask_value`` (``masking``) or token 0
    (``mask_zero``). Raises when padding comes before a real step (pre-padded or gapped input).

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


def rows(x: Any) -> int:
    """Number of samples in ``x``: an array, or ``{input name: array}`` for a model with several inputs.

    Example:
        >>> rows({"image": np.zeros((3, 8, 8, 3)), "tokens": np.zeros((3, 5))})
        3
    """
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def fixed_batches(x: Any, size: int | None, *, chunk: int = 256) -> Iterator[tuple[Any, int]]:
    """Split ``x`` into batches of exactly ``size`` (the last zero-padded), or of up to ``chunk`` when ``size`` is None.

    Yields ``(batch, n_real)``; callers keep ``outputs[:n_real]`` (the one chunk-and-pad loop of the project).
    ``x`` may be ``{input name: array}`` (a model with several inputs): every array is cut at the
    same rows and each batch is such a dict.

    Example:
        >>> [(b.shape[0], n) for b, n in fixed_batches(np.zeros((5, 2)), 2)]
        [(2, 2), (2, 2), (2, 1)]
    """
    step = size or chunk

    def cut(arr: np.ndarray, start: int) -> np.ndarray:
        batch = arr[start:start + step]
        if size and len(batch) < size:
            batch = np.concatenate([batch, np.zeros((size - len(batch),) + batch.shape[1:], batch.dtype)])
        return batch

    total = rows(x)
    for start in range(0, total, step):
        batch = {name: cut(arr, start) for name, arr in x.items()} if isinstance(x, dict) else cut(x, start)
        yield batch, min(step, total - start)


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
    """What is assumed of an artifact without a manifest (exported by another tool): first input and output, no masking or state."""
    return {"format": fmt, "input_name": next(iter(backend.inputs)), "output_name": next(iter(backend.outputs)),
            "masking": None, "streaming": None}


class Model:
    """A loaded artifact plus its manifest.

    Example:
        >>> m = Model.load("model.fp32.onnx")        # doctest: +SKIP
        >>> m.predict(np.zeros((4, 10, 3), np.float32)).shape   # doctest: +SKIP
        (4, 2)
    """

    def __init__(self, source: str | Path | bytes, manifest: dict[str, Any] | None, *, num_threads: int | None = None,
                 name: str | None = None, preprocess: bool = True, **backend_options: Any) -> None:
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
            raise RuntimeError_(f"artifact {self.path}: expected input {self.input_name!r} and output {self.output_name!r}, found inputs "
                                f"{list(self._backend.inputs)} and outputs {list(self._backend.outputs)}; re-export the model")
        self._check_manifest_dtypes()
        #: the manifest's preprocessing, applied by :meth:`predict` to raw inputs (``preprocess=False``: inputs are prepared)
        self.preprocessing: dict[str, Any] | None = (self.manifest.get("preprocessing") or None) if preprocess else None

    def _check_manifest_dtypes(self) -> None:
        """Input dtypes come from the manifest; a manifest that disagrees with its artifact is stale."""
        for entry in self.manifest.get("inputs") or []:
            info = self._backend.inputs.get(entry.get("name"))
            if info is not None and entry.get("dtype") and entry["dtype"] != info.dtype:
                raise RuntimeError_(f"manifest of {self.path} says input {info.name!r} is {entry['dtype']} but the artifact takes "
                                    f"{info.dtype}; the manifest belongs to another artifact -- re-export the model")

    @classmethod
    def load(cls, path: str | Path, *, num_threads: int | None = None, require_manifest: bool = True, preprocess: bool = True,
             **backend_options: Any) -> Model:
        """Load ``path`` (``.tflite`` or ``.onnx``) and the manifest ``path + '.json'``.

        With ``require_manifest=False`` an artifact without a manifest runs with :func:`plain_manifest`.
        ``preprocess`` (default): :meth:`predict` takes raw inputs and applies the manifest's
        preprocessing (z-score, window scaling, tokenizer); ``False``: inputs are already prepared.
        """
        if not Path(path).is_file():
            raise RuntimeError_(f"artifact {path} does not exist (expected a .tflite or .onnx file)")
        manifest = read_manifest(path) if require_manifest or Path(str(path) + MANIFEST_SUFFIX).exists() else None
        return cls(path, manifest, num_threads=num_threads, preprocess=preprocess, **backend_options)

    @property
    def backend(self) -> Any:
        """The :class:`TFLiteBackend` or :class:`OnnxBackend` running the artifact."""
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

    @property
    def concurrency(self) -> int | None:
        """Calls that run at the same time: TFLite interpreters in the pool, ``None`` for ONNX (no limit)."""
        return self._backend.concurrency

    def check_input(self, x: Any) -> np.ndarray:
        """``x`` as an array the artifact takes, or :class:`RuntimeError_` saying what is wrong with it.

        Checks: numbers (not ragged, text or booleans), shape ``(n, *sample)`` (a time step for
        streaming artifacts), finite values; whole numbers within ``input_range`` for token inputs.
        (Preprocessing declared in a manifest belongs here, before the checks.)
        """
        info = self._backend.inputs[self.input_name]
        expected = ", ".join(str(e) for e in info.shape[1:])
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError):
            arr = np.asarray(None)
        if arr.dtype.kind not in "iuf":
            what = "ragged (rows of different lengths)" if arr.dtype.kind == "O" else f"of dtype {arr.dtype}"
            raise RuntimeError_(f"input x is {what}; expected numbers in an array of shape (n, {expected})")
        if arr.ndim != len(info.shape) or any(e is not None and e != g for e, g in zip(info.shape[1:], arr.shape[1:])):
            raise RuntimeError_(f"input x has shape {arr.shape}; {self.path.name} expects (n, {expected})")
        if np.dtype(info.dtype).kind == "f" or info.quantized:  # float inputs (quantized ones too: quantized from float32)
            with np.errstate(over="ignore"):
                wanted = arr.astype(np.float32 if info.quantized else info.dtype, copy=False)
            if not np.isfinite(wanted).all():
                at = tuple(int(i) for i in np.argwhere(~np.isfinite(wanted))[0])
                raise RuntimeError_(f"input x{list(at)} is {arr[at]:g}; expected finite {wanted.dtype} numbers")
            return wanted
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise RuntimeError_(f"input x holds fractions or non-finite values; {self.path.name} takes whole numbers ({info.dtype} token ids)")
        low, high = self.manifest.get("input_range") or (np.iinfo(info.dtype).min, np.iinfo(info.dtype).max)
        if arr.size and (arr.min() < low or arr.max() > high):
            bad = arr.min() if arr.min() < low else arr.max()
            raise RuntimeError_(f"input x holds {bad:g}; {self.path.name} takes values from {low} to {high} (its token ids)")
        return arr.astype(info.dtype, copy=False)

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None, *, chunk: int = 256) -> np.ndarray:
        """Run independent sequences ``x`` (``(n, time, ...)``) and return the model output.

        State is reset before every invocation. Safe to call from many threads at once; the
        answer is the same as alone. ``lengths`` only for artifacts exported with
        ``--lengths-input`` (derived from the post-padding when not given).
        """
        if self.streaming:
            raise RuntimeError_(f"{self.path} is a streaming (single-step) artifact; use .stream().step(x_t)")
        if isinstance(x, dict) or self.manifest.get("input_names"):
            return predict_inputs(self, x, chunk=chunk)  # several named inputs (captioners)
        if self.preprocessing:
            raw, x = x, prepare_inputs(x, self.preprocessing)
            return finish_outputs(self.predict_prepared(x, lengths, chunk=chunk), raw, self.preprocessing)
        return self.predict_prepared(x, lengths, chunk=chunk)

    def predict_prepared(self, x: np.ndarray, lengths: np.ndarray | None = None, *, chunk: int = 256) -> np.ndarray:
        """:meth:`predict` on inputs already prepared (the manifest's preprocessing applied, or none recorded)."""
        x = self.check_input(x)
        info = self._backend.inputs[self.input_name]
        lengths_input = (self.masking or {}).get("lengths_input")
        if lengths is not None and not lengths_input:
            raise RuntimeError_(f"{self.path.name} takes no lengths input (it finds the padding itself); call predict(x)")
        if lengths_input and lengths is None:
            lengths = lengths_from_padding(x, self.masking)  # type: ignore[arg-type]
        outs = []
        offset = 0
        for xb, n in fixed_batches(x, self.batch_size, chunk=chunk):
            feeds = {self.input_name: _quantize(xb, info)}
            if lengths is not None:  # padded rows of the last chunk get length 0
                feeds[lengths_input] = np.pad(np.asarray(lengths[offset:offset + n], np.int32), (0, len(xb) - n))
            offset += n
            y = self._backend.run(feeds, reset=True)[self.output_name]
            outs.append(_dequantize(y, self._backend.outputs[self.output_name])[:n])
        return self._join(outs)

    def _join(self, outs: list[np.ndarray]) -> np.ndarray:
        """Per-chunk outputs as one array; no rows gives an empty array of the output's shape and dtype."""
        if not outs:
            out = self._backend.outputs[self.output_name]
            return np.zeros((0, *[d or 0 for d in out.shape[1:]]), np.float32 if out.quantized else out.dtype)
        return np.concatenate(outs)

    def stream(self) -> Stream:
        """A stateful stepper for streaming artifacts (exported with ``--streaming``); one per sequence source."""
        if not self.streaming:
            raise RuntimeError_(f"{self.path} is a full-sequence artifact; re-export with --streaming to step through sequences")
        return Stream(self)

    def stream_predict(self, x: np.ndarray) -> np.ndarray:
        """Step every whole sequence of ``x`` through a streaming artifact: outputs ``(n, time, ...)``, one per step."""
        outs = []
        for xb, n in fixed_batches(np.asarray(x), self.batch_size):
            stream = self.stream()
            outs.append(np.stack([stream.step(xb[:, t]) for t in range(xb.shape[1])], axis=1)[:n])
        return np.concatenate(outs)


class Stream:
    """One sequence in progress on a streaming artifact, h/c state carried explicitly.

    ``step(x_t)`` takes ``(batch, features)`` (or ``(features,)``) and returns the output after
    that step; ``reset()`` starts a new sequence. Give each thread or session its own Stream
    (they share the Model safely); calls on one Stream are serialized.
    """

    def __init__(self, model: Model) -> None:
        self._model = model
        self._states: list[dict[str, str]] = list((model.streaming or {}).get("states", []))
        self._lock = threading.Lock()
        self.state: dict[str, np.ndarray] | None = None  # zeros of the first step's batch, made at that step

    def reset(self) -> None:
        """Zero every h/c state (start of a new sequence)."""
        with self._lock:
            self.state = None

    def step(self, x_t: np.ndarray) -> np.ndarray:
        """Advance one step and return the output for it."""
        model, backend = self._model, self._model._backend
        info = backend.inputs[model.input_name]
        x_t = _step_input(model, x_t)
        single = x_t.ndim == len(info.shape) - 1
        x_t = model.check_input(x_t[None] if single else x_t)
        if model.batch_size is not None and len(x_t) != model.batch_size:
            raise RuntimeError_(f"step input has batch {len(x_t)}; {model.path.name} was exported with batch {model.batch_size}")
        with self._lock:
            if self.state is None:
                self.state = {s["input"]: np.zeros((len(x_t), *backend.inputs[s["input"]].shape[1:]), np.float32) for s in self._states}
            elif self._states and len(self.state[self._states[0]["input"]]) != len(x_t):
                raise RuntimeError_(f"step input has batch {len(x_t)} but this sequence started with another batch; call reset() first")
            out = backend.run({model.input_name: _quantize(x_t, info), **self.state}, reset=False)
            self.state = {s["input"]: out[s["output"]] for s in self._states}
        y = _dequantize(out[model.output_name], backend.outputs[model.output_name])
        return y[0] if single else y


# ---------------------------------------------------------------- several named inputs (captioners)


def check_inputs(model: Model, feeds: Any) -> dict[str, np.ndarray]:
    """``feeds`` (``{input name: array}``) as the arrays ``model`` takes, or :class:`RuntimeError_` naming the input.

    Same checks as :meth:`Model.check_input`, per input: numbers, shape ``(n, *sample)`` with one
    ``n`` for all, finite floats, token ids within the input's range.
    """
    names = list(model.manifest.get("input_names") or [model.input_name])
    if not isinstance(feeds, dict):
        raise RuntimeError_(f"{model.path.name} takes several inputs; pass a dict {{{', '.join(repr(n) for n in names)}: array}}")
    if sorted(feeds) != sorted(names):
        raise RuntimeError_(f"inputs {sorted(feeds)} do not match {model.path.name}'s inputs {names}")
    ranges = model.manifest.get("input_ranges") or {}
    out: dict[str, np.ndarray] = {}
    for name in names:
        info = model._backend.inputs[name]
        expected = ", ".join(str(e) for e in info.shape[1:])
        arr = np.asarray(feeds[name]) if not isinstance(feeds[name], list) else np.array(feeds[name], dtype=object)
        try:
            arr = arr.astype(np.float64) if arr.dtype.kind == "O" else arr
        except (ValueError, TypeError):
            pass
        if arr.dtype.kind not in "iuf":
            raise RuntimeError_(f"input {name!r} is of dtype {arr.dtype}; expected numbers in an array of shape (n, {expected})")
        if arr.ndim != len(info.shape) or any(e is not None and e != g for e, g in zip(info.shape[1:], arr.shape[1:])):
            raise RuntimeError_(f"input {name!r} has shape {arr.shape}; {model.path.name} expects (n, {expected})")
        if np.dtype(info.dtype).kind == "f" or info.quantized:
            wanted = arr.astype(np.float32 if info.quantized else info.dtype)
            if not np.isfinite(wanted).all():
                raise RuntimeError_(f"input {name!r} holds non-finite values; expected finite {wanted.dtype} numbers")
            out[name] = wanted
            continue
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise RuntimeError_(f"input {name!r} holds fractions; {model.path.name} takes whole numbers ({info.dtype} token ids)")
        low, high = ranges.get(name) or (np.iinfo(info.dtype).min, np.iinfo(info.dtype).max)
        if arr.size and (arr.min() < low or arr.max() > high):
            raise RuntimeError_(f"input {name!r} holds {arr.min() if arr.min() < low else arr.max():g}; it takes values from {low} to {high}")
        out[name] = arr.astype(info.dtype)
    if len({len(a) for a in out.values()}) > 1:
        raise RuntimeError_(f"inputs have different numbers of rows: {', '.join(f'{k}: {len(v)}' for k, v in out.items())}")
    return out


def predict_inputs(model: Model, feeds: Any, *, chunk: int = 256) -> np.ndarray:
    """Run a model with several named inputs on ``{input name: (n, ...) array}``; the output for each of the ``n`` rows.

    Example:
        >>> probs = Model.load("captioner.fp32.onnx").predict({"image": images, "tokens": prefixes})   # doctest: +SKIP
    """
    arrays = check_inputs(model, feeds)
    outs = []
    for batch, n in fixed_batches(arrays, model.batch_size, chunk=chunk):
        feed = {name: _quantize(arr, model._backend.inputs[name]) for name, arr in batch.items()}
        y = model._backend.run(feed, reset=True)[model.output_name]
        outs.append(_dequantize(y, model._backend.outputs[model.output_name])[:n])
    return model._join(outs)


# ---------------------------------------------------------------- captioning: encoder + single-step decoder


def _run_all(model: Model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of one call (quantized I/O handled), state reset first."""
    backend = model._backend
    out = backend.run({k: _quantize(np.asarray(v), backend.inputs[k]) for k, v in feeds.items()}, reset=True)
    return {k: _dequantize(v, backend.outputs[k]) for k, v in out.items()}


def _decode_step(decoder: Model, wiring: dict[str, Any], token: int, state: dict[str, np.ndarray],
                 features: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """log P(next token) after ``token`` and the next state (batch 1)."""
    dtype = decoder._backend.inputs[wiring["token_input"]].dtype
    out = _run_all(decoder, {wiring["token_input"]: np.array([token], dtype), **state, **features})
    probs = np.asarray(out[wiring["output"]][0], np.float64)
    with np.errstate(divide="ignore"):
        logp = np.log(np.clip(probs, 0.0, None)) if probs.min() >= 0 and abs(probs.sum() - 1) < 1e-3 else probs - np.logaddexp.reduce(probs)
    logp[list(wiring.get("never") or [])] = -np.inf  # padding is never a word
    return logp, {s["input"]: out[s["output"]] for s in wiring["states"]}


def generate(encoder: Model, decoder: Model, image: np.ndarray, *, beam: int = 1, max_len: int | None = None) -> list[int]:
    """Caption one ``image`` with an exported captioner: greedy (``beam=1``) or beam search of width ``beam``.

    Starts from the decoder manifest's start token, stops at its end token (not included) or
    after ``max_len`` tokens (default: the Keras model's prefix length). Beam search keeps the
    ``beam`` most likely prefixes (sum of log probabilities) and returns the most likely
    finished caption. Greedy equals the Keras model's own greedy decoding token for token (fp32).

    Example:
        >>> enc, dec = Model.load("cap.encoder.fp32.onnx"), Model.load("cap.decoder.fp32.onnx")  # doctest: +SKIP
        >>> generate(enc, dec, image, beam=3)                                                        # doctest: +SKIP
        [14, 7, 3]
    """
    wiring = decoder.manifest.get("captioner")
    if not wiring or wiring.get("role") != "decoder":
        raise RuntimeError_(f"{decoder.path.name} is not a captioner decoder (export it with export_captioner)")
    if beam < 1:
        raise RuntimeError_(f"beam: expected a width of at least 1, got {beam}")
    name = wiring["image_input"]
    x = np.asarray(image)[None]
    encoded = _run_all(encoder, {name: x})  # _run_all casts (or quantizes) to the encoder's input
    state = {s["input"]: encoded[s["init"]] if s["init"] != "zeros" else np.zeros((1, s["units"]), np.float32) for s in wiring["states"]}
    features = {f: encoded[f] for f in wiring["features"]}
    cap = int(max_len or wiring["prefix_length"])
    beams: list[tuple[float, list[int], dict[str, np.ndarray]]] = [(0.0, [], state)]
    finished: list[tuple[float, list[int]]] = []
    for _ in range(cap):
        candidates = []
        for score, tokens, st in beams:
            logp, nxt_state = _decode_step(decoder, wiring, tokens[-1] if tokens else wiring["start"], st, features)
            for tok in np.argsort(-logp, kind="stable")[:beam]:
                candidates.append((score + float(logp[tok]), tokens + [int(tok)], nxt_state))
        candidates.sort(key=lambda c: -c[0])
        beams = []
        for score, tokens, st in candidates[:beam]:
            if tokens[-1] == wiring["end"]:
                finished.append((score, tokens[:-1]))
            else:
                beams.append((score, tokens, st))
        if not beams:
            break
    finished += [(score, tokens) for score, tokens, _ in beams]  # cut at the length cap
    return max(finished, key=lambda f: f[0])[1]


def _step_input(model: Model, x_t: Any) -> np.ndarray:
    """``x_t`` as an array of one time step, or :class:`RuntimeError_` saying what a step looks like.

    Example: a streaming artifact of 3 features takes ``(3,)`` or ``(batch, 3)``; a whole
    sequence ``(time, 3)`` of the wrong width, or ``(1, time, 3)``, names ``stream_predict``.
    """
    info = model._backend.inputs[model.input_name]
    features = tuple(info.shape[1:])
    try:
        arr = np.asarray(x_t)
    except (ValueError, TypeError):
        raise RuntimeError_(f"step input is ragged or not numbers; expected one time step shaped {features} or (batch, "
                            f"{', '.join(map(str, features))})") from None
    want = ", ".join(map(str, features))
    if arr.ndim not in (len(features), len(features) + 1) or tuple(arr.shape[-len(features):]) != features:
        hint = (" (that looks like whole sequences: use model.stream_predict(x) or feed x[:, t] step by step)"
                if arr.ndim == len(features) + 2 or (arr.ndim >= 1 and arr.shape[-1:] == features[-1:]) else "")
        raise RuntimeError_(f"step input has shape {arr.shape}; {model.path.name} takes one time step: ({want}) or (batch, {want}){hint}")
    return arr


# ---------------------------------------------------------------- preprocessing recorded in the manifest


def prepare_inputs(x: Any, pre: dict[str, Any]) -> Any:
    """Raw inputs -> what the artifact takes, as the manifest's ``preprocessing`` records (see ``load/sources.py``).

    * ``mean``/``std`` (per-channel z-score of a UCR/UEA set): ``(x - mean) / std``; all-zero
      (padded) steps stay zero;
    * ``normalize`` zscore/minmax/none with ``center``/``scale`` (series windows): ``(x - center) / scale``;
    * ``normalize: window``: each window scaled by its last value, ``x / x[:, -1] - 1``;
    * ``tokenizer`` (word vocabulary): texts become post-padded token ids; ids pass through.

    Example:
        >>> prepare_inputs(np.array([[[3.0], [5.0]]]), {"normalize": "zscore", "center": 1.0, "scale": 2.0}).ravel().tolist()
        [1.0, 2.0]
        >>> prepare_inputs(["Good film"], {"tokenizer": {"words": ["good"], "max_len": 3, "pad_id": 0, "oov_id": 1}}).tolist()
        [[2, 1, 0]]
    """
    if "tokenizer" in pre:
        return _encode_texts(x, pre["tokenizer"])
    arr = np.asarray(x, np.float32) if not isinstance(x, np.ndarray) or x.dtype.kind in "iuf" else x
    if arr.dtype.kind not in "iuf":
        return x  # check_input explains what is wrong with it
    arr = arr.astype(np.float32, copy=False)
    if "mean" in pre and "std" in pre:
        padded = np.all(arr == 0, axis=-1, keepdims=True) if str(pre.get("padding", "")).startswith("post") else False
        out = (arr - np.asarray(pre["mean"], np.float32)) / np.asarray(pre["std"], np.float32)
        return np.where(padded, np.float32(0), out).astype(np.float32)
    if pre.get("normalize") == "window":
        last = arr[:, -1:]
        if np.any(last == 0):
            raise RuntimeError_("window scaling divides by each window's last value; a window ends in 0")
        return (arr / last - 1.0).astype(np.float32)
    if "center" in pre and "scale" in pre:
        return ((arr - np.float32(pre["center"])) / np.float32(pre["scale"])).astype(np.float32)
    return arr


def finish_outputs(y: np.ndarray, raw: Any, pre: dict[str, Any]) -> np.ndarray:
    """Model outputs -> the raw inputs' units for forecasting windows (``center``/``scale``, ``window``); others unchanged."""
    if pre.get("normalize") == "window":
        last = np.asarray(raw, np.float32)[:, -1].reshape(len(y), *([1] * (y.ndim - 1)))
        return (last * (1.0 + y)).astype(np.float32)
    if pre.get("normalize") in ("zscore", "minmax", "none") and "center" in pre and "scale" in pre:
        return (y * np.float32(pre["scale"]) + np.float32(pre["center"])).astype(np.float32)
    return y


def _encode_texts(x: Any, tok: dict[str, Any]) -> Any:
    """Texts (a string or strings) -> int32 token ids, as ``load.sources.Vocabulary.encode`` does; numbers pass through."""
    import re

    texts = [x] if isinstance(x, str) else x
    if not (isinstance(texts, (list, tuple)) or (isinstance(texts, np.ndarray) and texts.dtype.kind in "UO")) or \
            not all(isinstance(t, str) for t in texts):
        return x
    pattern = re.compile(tok.get("token_pattern", r"[a-z0-9']+"))
    index = {w: i + 2 for i, w in enumerate(tok["words"])}
    out = np.full((len(texts), int(tok["max_len"])), int(tok.get("pad_id", 0)), np.int32)
    for row, text in enumerate(texts):
        ids = [index.get(w, int(tok.get("oov_id", 1))) for w in pattern.findall(text.lower() if tok.get("lowercase", True) else text)]
        out[row, : len(ids[: out.shape[1]])] = ids[: out.shape[1]]
    return out
