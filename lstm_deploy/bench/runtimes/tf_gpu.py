"""TensorFlow on a visible GPU, running the Keras model in a ``tf.function``.

Example:
    >>> TensorFlowGPU.available()                                   # doctest: +SKIP
    (False, 'no NVIDIA GPU visible (no /dev/nvidia* device, no nvidia-smi)')
"""

from __future__ import annotations

import glob
import shutil

import numpy as np

from ...load.dataset import X
from ..registry import RuntimeUnavailable, register
from .keras import KerasFunction


def nvidia_gpu_visible() -> tuple[bool, str]:
    """A cheap check (no TensorFlow import) for an NVIDIA GPU on this machine."""
    if glob.glob("/dev/nvidia[0-9]*") or shutil.which("nvidia-smi"):
        return True, ""
    return False, "no NVIDIA GPU visible (no /dev/nvidia* device, no nvidia-smi)"


@register
class TensorFlowGPU(KerasFunction):
    name = "tf-gpu"
    description = "TensorFlow tf.function placed on /GPU:0 (tensorflow[and-cuda] + NVIDIA GPU)"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        ok, reason = super().available()
        return nvidia_gpu_visible() if ok else (ok, reason)

    def _setup(self) -> None:
        gpus = self.tf.config.list_physical_devices("GPU")
        if not gpus:
            raise RuntimeUnavailable("TensorFlow sees no GPU (install tensorflow[and-cuda] matching the driver)")
        super()._setup()

    def _run_batch(self, x: X) -> np.ndarray:
        with self.tf.device("/GPU:0"):
            return super()._run_batch(x)
