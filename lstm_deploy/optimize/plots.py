"""The search's Pareto plots: validation metric vs latency and vs size, baseline and winner marked.

Example:
    >>> [p.name for p in write_plots(report, Path("opt"))]     # doctest: +SKIP
    ['pareto_latency.png', 'pareto_size.png']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..report.plots import _pyplot, _save

AXES = {"latency": ("latency_ms", "p50 latency (ms, batch 1)", "pareto_latency.png"),
        "size": ("gzip_bytes", "artifact size (gzip bytes)", "pareto_size.png")}


def _front(points: list[tuple[float, float]], higher: bool) -> list[tuple[float, float]]:
    """The staircase of points no other point beats on both axes (x lower is better)."""
    front, best = [], None
    for x, y in sorted(points, key=lambda p: (p[0], -p[1] if higher else p[1])):
        if best is None or (y > best if higher else y < best):
            front.append((x, y))
            best = y
    return front


def _plot(report: dict[str, Any], axis: str, target: Path) -> Path | None:
    key, label, _ = AXES[axis]
    rows = [t for t in report["trials"] if t["status"] == "ok" and t.get(key) and t.get("val_metric") is not None]
    if not rows:
        return None
    plt = _pyplot()
    higher = report["metric"] == "accuracy"
    budget = report["max_metric_drop"]
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    ok = [t for t in rows if t["val_drop"] <= budget + 1e-9]
    over = [t for t in rows if t["val_drop"] > budget + 1e-9]
    ax.scatter([t[key] for t in ok], [t["val_metric"] for t in ok], s=30, color="tab:green", label="trial within budget")
    ax.scatter([t[key] for t in over], [t["val_metric"] for t in over], s=30, color="tab:gray", marker="x", label="trial over budget")
    front = _front([(t[key], t["val_metric"]) for t in rows], higher)
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="tab:green", alpha=0.5, label="Pareto front")
    base = report["baseline"]
    if base.get(key):
        ax.scatter([base[key]], [report["reference"]["val_metric"]], s=140, marker="*", color="tab:red", label="baseline (original fp32)")
    best = report["best"]
    if best.get(key) and best.get("kind") == "finalist":
        ax.scatter([best[key]], [best["selection_metric"]], s=120, facecolors="none", edgecolors="black", linewidths=1.5, label="winner")
    ref = report["reference"]["val_metric"]
    ax.axhline(ref - budget if higher else ref + budget, color="tab:red", linestyle=":", linewidth=1, label="budget")
    ax.set_xscale("log")
    ax.set_xlabel(label + " -- trials: search run; stars: final run")
    ax.set_ylabel(f"{report['metric']} on the selection rows")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, target)


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    """Write both plots into ``out``; a plot with nothing to show is skipped."""
    written = []
    for axis in AXES:
        path = _plot(report, axis, out / AXES[axis][2])
        if path is not None:
            written.append(path)
    return written
