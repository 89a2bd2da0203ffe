"""What the runtime knows of one input or output, and float <-> quantized integer I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float ``x`` as ``info`` takes it: cast, or quantized with its scale and zero point (clipped to the integer range)."""
    if not info.quantized:
        return x.astype(info.dtype, copy=False)
    lim = np.iinfo(info.dtype)
    q = np.round(x.astype(np.float32) / info.scale) + info.zero_point  # type: ignore[operator]
    return np.clip(q, lim.min, lim.max).astype(info.dtype)


def dequantize(y: np.ndarray, info: TensorInfo) -> np.ndarray:
    """An output back in float32 when ``info`` is quantized; unchanged otherwise."""
    if not info.quantized:
        return y
    return (y.astype(np.float32) - info.zero_point) * np.float32(info.scale)  # type: ignore[operator]
