"""LiteRT (TFLite) interpreter on the CPU with XNNPACK, thread count pinned.

Artifacts run through :class:`lstm_deploy.runtime.Model` (state reset before every call,
quantized I/O, masking lengths), exactly as apps run them. TFLite artifacts have a fixed
batch (usually 1); a larger batch is served by an interpreter resized to it when the
graph allows it *and* gives the same outputs as looping, else by looping over
fixed-size chunks.

Example:
    >>> rt = TFLiteRuntime(); rt.load("model.tflite", threads=2)   # doctest: +SKIP
    >>> rt.run(x[:1]).shape                                          # doctest: +SKIP
    (1, 4)
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ..registry import ArtifactRuntime, register


@register
class TFLiteRuntime(ArtifactRuntime):
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

    def resized(self, batch_size: int) -> Any | None:
        """An interpreter resized to ``batch_size``, kept only if it reproduces the looped outputs."""
        from ...runtime import Model, RuntimeError_

        names = self.model.manifest.get("input_names") or [self.model.input_name]
        ranges = self.model.manifest.get("input_ranges") or {}
        probes = {name: _probe(self.model.inputs[name], batch_size, ranges.get(name)) for name in names}
        probe = probes if len(names) > 1 else probes[names[0]]  # several inputs: predict takes {input name: array}
        try:
            model = Model(self.path, self.model.manifest, num_threads=self.threads, batch_size=batch_size, preprocess=False)
            got = model.predict(probe)
        except (RuntimeError_, RuntimeError, ValueError):  # e.g. fused LSTM state tensors have a fixed batch
            return None
        return model if np.allclose(got, self.model.predict(probe), rtol=1e-4, atol=1e-5) else None


def _probe(info: Any, batch_size: int, token_range: list[int] | None = None) -> np.ndarray:
    """Seeded inputs of ``batch_size`` rows for one input (token ids: small whole numbers >= 1, within ``token_range``)."""
    probe = np.random.default_rng(0).normal(size=(batch_size, *info.shape[1:])).astype(np.float32)
    if np.dtype(info.dtype).kind in "iu" and info.scale is None:  # token ids
        probe = np.abs(probe * 3).astype(info.dtype) + 1
        if token_range:
            probe = np.clip(probe, token_range[0], token_range[1]).astype(info.dtype)
    return probe
