"""LiteRT (TFLite) interpreter on the CPU with XNNPACK, thread count pinned.

The fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op keeps hidden and cell state in
variable tensors across ``invoke()`` calls, so every call of :meth:`run` starts with
``reset_all_variables()``. TFLite artifacts have a fixed batch (usually 1); a larger
batch is served by resizing the input when the graph allows it and gives the same
outputs, otherwise by looping over fixed-size chunks (reset before each).

Example:
    >>> rt = TFLiteRuntime(); rt.load("model.tflite", threads=2)   # doctest: +SKIP
    >>> rt.run(x[:1]).shape                                          # doctest: +SKIP
    (1, 4)
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..registry import Runtime, masked_artifact, register


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        return (y.astype(np.float32) - zero) * scale
    return y


class _Graph:
    """One allocated interpreter and its I/O details."""

    def __init__(self, path: str, threads: int, batch: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        if batch is not None and batch != int(self.input["shape"][0]):
            shape = [batch, *[int(d) for d in self.input["shape"][1:]]]
            self.interpreter.resize_tensor_input(self.input["index"], shape, strict=False)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.n_inputs = len(self.interpreter.get_input_details())

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], _quantize(x, self.input))
        self.interpreter.invoke()
        return _dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)

    def reset(self) -> None:
        self.interpreter.reset_all_variables()


@register
class TFLiteRuntime(Runtime):
    name = "tflite"
    formats = ("tflite",)
    description = "LiteRT interpreter (ai_edge_litert), CPU, XNNPACK, reset_all_variables between sequences"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("ai_edge_litert") is None:
            return False, "ai_edge_litert is not installed (pip install ai-edge-litert)"
        return True, ""

    @classmethod
    def import_runtime(cls, threads: int) -> None:
        import ai_edge_litert.interpreter  # noqa: F401

    def load(self, path: str, threads: int) -> None:
        self.path, self.threads = path, threads
        self.masked = masked_artifact(path, threads)
        if self.masked is not None:
            self.fixed_batch = self.masked.batch_size
            self._resized = {}
            return
        self.graph = _Graph(path, threads)
        if self.graph.n_inputs != 1:
            raise ValueError(f"{path}: has {self.graph.n_inputs} inputs; the benchmark runs single-input sequence models")
        self.fixed_batch = int(self.graph.input["shape"][0])
        self._resized: dict[int, _Graph | None] = {}

    def reset(self) -> None:
        if self.masked is None:
            self.graph.reset()

    def batching(self, batch_size: int) -> str:
        if batch_size == self.fixed_batch:
            return "native"
        if self.masked is not None:
            return "loop"
        if batch_size not in self._resized:
            self._resized[batch_size] = self._try_resize(batch_size)
        return "resized" if self._resized[batch_size] is not None else "loop"

    def _try_resize(self, batch_size: int) -> _Graph | None:
        """A resized interpreter, kept only if it reproduces the looped outputs."""
        shape = (batch_size, *[int(d) for d in self.graph.input["shape"][1:]])
        probe = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        try:
            graph = _Graph(self.path, self.threads, batch=batch_size)
            graph.reset()
            got = graph(probe)
        except (RuntimeError, ValueError):  # e.g. fused LSTM state tensors have a fixed batch
            return None
        if not np.allclose(got, self._loop(probe), rtol=1e-4, atol=1e-5):
            return None
        return graph

    def run(self, x: np.ndarray) -> np.ndarray:
        mode = self.batching(len(x))
        if mode == "resized":
            graph = self._resized[len(x)]
            if graph is not None:
                graph.reset()
                return graph(x)
        return super().run(x)

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        if self.masked is not None:  # resets before its invoke, feeds lengths derived from padding
            return self.masked.predict(x)
        return self.graph(x)
