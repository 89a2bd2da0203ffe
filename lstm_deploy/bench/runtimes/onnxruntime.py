"""ONNX Runtime: CPU execution provider, plus CUDA and TensorRT entries for GPU machines.

ONNX Runtime silently falls back to the CPU when a requested provider cannot be
created; the GPU entries check the session's providers and report the runtime as
unavailable instead of timing the CPU under a GPU name.

Example:
    >>> rt = OnnxRuntimeCPU(); rt.load("model.onnx", threads=1)     # doctest: +SKIP
    >>> rt.run(x[:32]).shape                                        # doctest: +SKIP
    (32, 4)
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..registry import Runtime, RuntimeUnavailable, masked_artifact, register


class _OnnxRuntimeBase(Runtime):
    formats = ("onnx",)
    provider = "CPUExecutionProvider"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("onnxruntime") is None:
            return False, "onnxruntime is not installed (pip install onnxruntime)"
        import onnxruntime as ort

        providers = ort.get_available_providers()
        if cls.provider not in providers:
            return False, (
                f"this onnxruntime build has no {cls.provider} (has {', '.join(providers)}); "
                "install onnxruntime-gpu on a machine with an NVIDIA GPU (pip install 'lstm-deploy[gpu]')"
            )
        return True, ""

    @classmethod
    def import_runtime(cls, threads: int) -> None:
        import onnxruntime  # noqa: F401

    def load(self, path: str, threads: int) -> None:
        import onnxruntime as ort

        self.threads = threads
        self.masked = masked_artifact(path, threads) if self.provider == "CPUExecutionProvider" else None
        if self.masked is not None:
            self.fixed_batch = None
            return
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(path, sess_options=opts, providers=[self.provider])
        except Exception as exc:  # onnxruntime raises its own C++ exception types
            if self.provider != "CPUExecutionProvider":
                raise RuntimeUnavailable(f"{self.provider} failed to create a session: {exc}") from None
            raise
        if self.session.get_providers()[0] != self.provider:
            raise RuntimeUnavailable(f"{self.provider} could not be used (session fell back to {self.session.get_providers()})")
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{path}: has {len(inputs)} inputs; the benchmark runs single-input sequence models")
        self.input_name = inputs[0].name
        batch = inputs[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        if self.masked is not None:
            return self.masked.predict(x)
        return self.session.run(None, {self.input_name: x.astype(np.float32, copy=False)})[0]

    def close(self) -> None:
        self.session = None


@register
class OnnxRuntimeCPU(_OnnxRuntimeBase):
    name = "onnxruntime"
    description = "ONNX Runtime, CPU execution provider, intra-op threads pinned"


@register
class OnnxRuntimeCUDA(_OnnxRuntimeBase):
    name = "onnxruntime-cuda"
    description = "ONNX Runtime, CUDA execution provider (onnxruntime-gpu + NVIDIA GPU)"
    provider = "CUDAExecutionProvider"


@register
class OnnxRuntimeTensorRT(_OnnxRuntimeBase):
    name = "onnxruntime-tensorrt"
    description = "ONNX Runtime, TensorRT execution provider (onnxruntime-gpu + TensorRT + NVIDIA GPU)"
    provider = "TensorrtExecutionProvider"
