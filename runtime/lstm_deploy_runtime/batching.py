"""Rows, fixed batches and masking lengths: the one chunk-and-pad loop of the project."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import RuntimeError_


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
