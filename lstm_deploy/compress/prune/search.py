"""Find the highest sparsity whose metric drop stays within a budget, by bisection.

The search first tries the requested (highest) sparsity; if that fails it bisects
between 0 (no drop by definition) and it. Every attempt is recorded, so the report
shows the curve that was walked.

Example:
    >>> best, curve = bisect_sparsity(attempt, 0.9, max_drop=1.0, steps=4)   # doctest: +SKIP
    >>> [round(p["sparsity"], 3) for p in curve]                             # doctest: +SKIP
    [0.9, 0.45, 0.675, 0.787, 0.844]
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from ...errors import InputError, StageError

T = TypeVar("T")

#: ``attempt(sparsity) -> (outcome, metric_drop, details)``.
Attempt = Callable[[float], tuple[T, float, dict[str, Any]]]


def bisect_sparsity(attempt: Attempt[T], max_sparsity: float, *, max_drop: float, steps: int) -> tuple[tuple[float, T], list[dict[str, Any]]]:
    """Return ``((sparsity, outcome), curve)`` for the highest tried sparsity with drop <= ``max_drop``.

    Raises:
        StageError: no tried sparsity above 0 kept the drop within ``max_drop``.
    """
    curve: list[dict[str, Any]] = []
    best: tuple[float, T] | None = None

    def run(s: float) -> bool:
        nonlocal best
        try:
            outcome, drop, details = attempt(s)
        except InputError as exc:  # e.g. a sparsity too small to remove a single unit
            curve.append({"sparsity": s, "skipped": str(exc)})
            return True
        ok = drop <= max_drop
        curve.append({"sparsity": s, "metric_drop": drop, "ok": ok, **details})
        if ok and (best is None or s > best[0]):
            best = (s, outcome)
        return ok

    if not run(max_sparsity):
        lo, hi = 0.0, max_sparsity
        for _ in range(steps):
            mid = (lo + hi) / 2
            if run(mid):
                lo = mid
            else:
                hi = mid
    if best is None:
        tried = ", ".join(f"{p['sparsity']:.3f}" for p in curve)
        raise StageError(
            f"--max-metric-drop {max_drop}: no sparsity tried ({tried}) kept the metric drop within the budget; "
            "raise --max-metric-drop, fine-tune longer (--epochs) or prune fewer layers (--layers)"
        )
    return best, curve
