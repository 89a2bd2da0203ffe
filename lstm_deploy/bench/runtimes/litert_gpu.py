"""LiteRT ``CompiledModel`` with the GPU accelerator (what phones use for GPU inference).

Only GPU placement counts: a model the GPU accelerator cannot take whole is reported
unavailable rather than silently timed on the CPU. As of ai-edge-litert 2.3,
``CompiledModel`` refuses models with variable tensors, i.e. the fused LSTM ops
("Variable tensors not yet supported"); the reason is reported as LiteRT gives it.

Example:
    >>> rt = LiteRtGpu(); rt.load("model.tflite", threads=1)        # doctest: +SKIP
    Traceback (most recent call last):
    lstm_deploy.bench.registry.RuntimeUnavailable: LiteRT CompiledModel could not load ... on the GPU accelerator: ...
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..registry import Runtime, RuntimeUnavailable, register


@register
class LiteRtGpu(Runtime):
    name = "litert-gpu"
    formats = ("tflite",)
    description = "LiteRT CompiledModel, GPU accelerator only (no CPU fallback)"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("ai_edge_litert") is None:
            return False, "ai_edge_litert is not installed (pip install ai-edge-litert)"
        if importlib.util.find_spec("ai_edge_litert.compiled_model") is None:
            return False, "this ai_edge_litert has no CompiledModel API (needs ai-edge-litert >= 2.0)"
        return True, ""

    @classmethod
    def import_runtime(cls, threads: int) -> None:
        import ai_edge_litert.compiled_model  # noqa: F401

    def load(self, path: str, threads: int) -> None:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator

        self.threads = threads
        try:
            self.model = CompiledModel.from_file(path, hardware_accel=HardwareAccelerator.GPU)
        except RuntimeError as exc:
            raise RuntimeUnavailable(f"LiteRT CompiledModel could not load the model on the GPU accelerator: {str(exc).splitlines()[0]}") from None
        if not self.model.is_fully_accelerated():
            raise RuntimeUnavailable("the LiteRT GPU accelerator cannot run every op of this model (it would fall back to the CPU)")
        self.inputs = self.model.create_input_buffers(0)
        self.outputs = self.model.create_output_buffers(0)
        signature = next(iter(self.model.get_signature_list()))
        shape = next(iter(self.model.get_input_tensor_details(signature).values()))["shape"]
        self.fixed_batch = int(shape[0])
        out = self.model.get_output_tensor_details(signature)
        self.out_shape = tuple(int(d) for d in next(iter(out.values()))["shape"])

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        if isinstance(x, dict):
            raise ValueError(f"the model has {len(x)} inputs; this runtime feeds single-input sequence models")
        self.inputs[0].write(np.ascontiguousarray(x, dtype=np.float32))
        self.model.run_by_index(0, self.inputs, self.outputs)
        n = int(np.prod(self.out_shape))
        return self.outputs[0].read(n, np.float32).reshape(self.out_shape)
