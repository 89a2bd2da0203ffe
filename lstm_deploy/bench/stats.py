"""Latency statistics: every number in a benchmark report comes from :func:`summarize`.

Percentiles use linear interpolation between closest ranks (numpy's default
``"linear"`` method), so ``p50`` of ``[1, 2, 3, 4]`` is ``2.5``.

Example:
    >>> s = summarize([0.001, 0.002, 0.003, 0.004], batch_size=2)
    >>> round(s.p50_ms, 3), round(s.throughput_seq_s)
    (2.5, 800)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

from ..errors import InputError


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` with linear interpolation.

    Example:
        >>> percentile([10, 20, 30], 50)
        20.0
    """
    if not values:
        raise InputError("percentile: expected at least one value, got an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise InputError(f"percentile: expected q in [0, 100], got {q}")
    ordered = sorted(float(v) for v in values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class LatencyStats:
    """Summary of one timed configuration; times in milliseconds per call."""

    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    throughput_seq_s: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(seconds: Sequence[float], batch_size: int = 1) -> LatencyStats:
    """Summarize per-call wall times (seconds) of calls that each process ``batch_size`` sequences.

    ``std_ms`` is the population standard deviation; ``throughput_seq_s`` is
    ``batch_size / p50`` (sequences per second; the median resists the stalls a
    shared machine injects, which would dominate a mean).
    """
    if batch_size < 1:
        raise InputError(f"summarize: batch_size must be >= 1, got {batch_size}")
    if not seconds:
        raise InputError("summarize: expected at least one timing, got none")
    if any(s < 0 or not math.isfinite(s) for s in seconds):
        raise InputError("summarize: timings must be finite and non-negative")
    ms = [float(s) * 1000.0 for s in seconds]
    mean = sum(ms) / len(ms)
    std = math.sqrt(sum((v - mean) ** 2 for v in ms) / len(ms))
    p50 = percentile(ms, 50)
    return LatencyStats(
        n=len(ms),
        p50_ms=p50,
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        mean_ms=mean,
        std_ms=std,
        min_ms=min(ms),
        max_ms=max(ms),
        throughput_seq_s=(batch_size * 1000.0 / p50) if p50 > 0 else float("inf"),
    )
