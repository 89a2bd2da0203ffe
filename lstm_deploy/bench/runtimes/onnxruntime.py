"""ONNX Runtime: CPU execution provider, plus CUDA and TensorRT entries for GPU machines.

Artifacts run through :class:`lstm_deploy.runtime.Model` (input dtypes from the manifest,
masking lengths), exactly as apps run them; the benchmark only adds the provider.
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
from typing import Any

from ..registry import ArtifactRuntime, RuntimeUnavailable, register


class _OnnxRuntimeBase(ArtifactRuntime):
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

    def backend_options(self) -> dict[str, Any]:
        return {"providers": [self.provider]}

    def load(self, path: str, threads: int) -> None:
        from ...runtime import RuntimeError_

        try:
            super().load(path, threads)
        except RuntimeError_ as exc:
            if self.provider != "CPUExecutionProvider":
                raise RuntimeUnavailable(f"{self.provider} failed to create a session: {exc}") from None
            raise
        used = self.model.backend.providers
        if used[0] != self.provider:
            raise RuntimeUnavailable(f"{self.provider} could not be used (session fell back to {used})")


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
