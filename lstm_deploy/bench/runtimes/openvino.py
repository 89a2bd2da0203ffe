"""OpenVINO on the CPU, running the ONNX artifacts (optional extra ``lstm-deploy[openvino]``).

Example:
    >>> OpenVinoRuntime.available()                                 # doctest: +SKIP
    (False, "openvino is not installed (pip install 'lstm-deploy[openvino]')")
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..registry import Runtime, register


@register
class OpenVinoRuntime(Runtime):
    name = "openvino"
    formats = ("onnx",)
    description = "OpenVINO CPU plugin on the ONNX artifact, INFERENCE_NUM_THREADS pinned"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("openvino") is None:
            return False, "openvino is not installed (pip install 'lstm-deploy[openvino]')"
        return True, ""

    @classmethod
    def import_runtime(cls, threads: int) -> None:
        import openvino  # noqa: F401

    def load(self, path: str, threads: int) -> None:
        import openvino as ov

        self.threads = threads
        core = ov.Core()
        model = core.read_model(path)
        if len(model.inputs) != 1:
            raise ValueError(f"{path}: has {len(model.inputs)} inputs; the benchmark runs single-input sequence models")
        self.compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1})
        self.request = self.compiled.create_infer_request()
        batch = model.inputs[0].get_partial_shape()[0]
        self.fixed_batch = None if batch.is_dynamic else int(batch.get_length())

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        result = self.request.infer({0: x.astype(np.float32, copy=False)})
        return np.asarray(result[self.compiled.outputs[0]])

    def close(self) -> None:
        self.request = self.compiled = None
