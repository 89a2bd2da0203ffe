"""The two backends: LiteRT interpreters (``.tflite``) and ONNX Runtime sessions (``.onnx``), each imported lazily.

Adding a runtime is one class here and one entry in :data:`BACKENDS`.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._stderr import silenced_stderr
from .errors import RuntimeError_, first_line
from .tensors import TensorInfo


def _missing(module: str, extra: str) -> RuntimeError_:
    return RuntimeError_(f"{module} is not installed; this artifact needs it: pip install 'lstm-deploy-runtime[{extra}]'")


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
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise _missing("ai-edge-litert", "litert") from None

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
            raise RuntimeError_(f"LiteRT cannot load this artifact: {first_line(exc)}") from None
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
        try:
            import onnxruntime as ort
        except ImportError:
            raise _missing("onnxruntime", "onnx") from None

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
            raise RuntimeError_(f"ONNX Runtime cannot load this artifact: {first_line(exc)}") from None
        self.providers: list[str] = list(self._session.get_providers())
        self.inputs = {i.name: _onnx_info(i) for i in self._session.get_inputs()}
        self.outputs = {o.name: _onnx_info(o) for o in self._session.get_outputs()}

    def run(self, feeds: dict[str, np.ndarray], *, reset: bool = True) -> dict[str, np.ndarray]:
        names = list(self.outputs)
        return dict(zip(names, self._session.run(names, feeds)))


def _onnx_info(node: Any) -> TensorInfo:
    shape = tuple(s if isinstance(s, int) else None for s in node.shape)
    return TensorInfo(node.name, shape, _ONNX_TYPES.get(node.type, node.type))


#: format name -> backend class; adding a runtime is one entry here.
BACKENDS: dict[str, Callable[..., Any]] = {"tflite": TFLiteBackend, "onnx": OnnxBackend}
SUFFIXES = {".tflite": "tflite", ".onnx": "onnx"}
