"""Report plots (matplotlib, Agg backend, no display needed).

Example:
    >>> written = write_plots(report, "out/")                      # doctest: +SKIP
    >>> sorted(p.name for p in written)                             # doctest: +SKIP
    ['latency_by_runtime.png', 'latency_vs_metric.png', 'size_by_artifact.png']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from .bench import BenchReport, quality, ranked

PLOT_FILES = ("latency_vs_metric.png", "latency_by_runtime.png", "size_by_artifact.png")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, target: Path) -> Path:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _pyplot().close(fig)
    return target


def _first_config(report: BenchReport) -> list[dict[str, Any]]:
    """Rows at the smallest batch size and the first thread count: one point per (artifact, runtime)."""
    rows = ranked(report.results)
    if not rows:
        return []
    batch = rows[0]["batch_size"]
    threads = sorted({r["threads"] for r in rows if r["batch_size"] == batch})[0]
    return [r for r in rows if r["batch_size"] == batch and r["threads"] == threads]


def latency_vs_metric(report: BenchReport, target: Path) -> Path | None:
    rows = [r for r in _first_config(report) if quality(r) is not None]
    if not rows:
        return None
    plt = _pyplot()
    metric = "accuracy" if rows[0].get("accuracy") is not None else "rmse"
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for runtime in sorted({r["runtime"] for r in rows}):
        pts = [r for r in rows if r["runtime"] == runtime]
        ax.scatter([r["p50_ms"] for r in pts], [r[metric] for r in pts], label=runtime, s=40)
    front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["p50_ms"])
    for i, r in enumerate(front):  # label the front only: equal-metric points would overprint each other
        ax.annotate(f"{r['artifact']} ({r['runtime']})", (r["p50_ms"], r[metric]), fontsize=7,
                    xytext=(4, 4 + 9 * (i % 2)), textcoords="offset points")
    if front:
        ax.step([r["p50_ms"] for r in front], [r[metric] for r in front], where="post", color="black",
                linestyle="--", linewidth=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency, ms (batch {rows[0]['batch_size']}, {rows[0]['threads']} thread(s), log scale)")
    ax.set_ylabel(f"{metric} on x_test" + (" (lower is better)" if metric == "rmse" else ""))
    ax.set_title("Latency vs task metric")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, target)


def latency_by_runtime(report: BenchReport, target: Path) -> Path | None:
    rows = _first_config(report)
    if not rows:
        return None
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r["p50_ms"])
    labels = [f"{r['artifact']} | {r['runtime']}" for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(rows) + 1.5))
    ax.barh(labels, [r["p50_ms"] for r in rows], xerr=[[0] * len(rows), [r["p90_ms"] - r["p50_ms"] for r in rows]], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency, ms (bar) to p90 (whisker); batch {rows[0]['batch_size']}, {rows[0]['threads']} thread(s)")
    ax.set_title("Latency by artifact and runtime")
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, target)


def size_by_artifact(report: BenchReport, target: Path) -> Path | None:
    arts = [a for a in report.artifacts if a.get("size_bytes")]
    if not arts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(arts) + 1.5))
    ys = list(range(len(arts)))
    ax.barh([y - 0.2 for y in ys], [a["size_bytes"] / 1024 for a in arts], height=0.4, label="raw")
    ax.barh([y + 0.2 for y in ys], [a["gzip_bytes"] / 1024 for a in arts], height=0.4, label="gzip -9")
    ax.set_yticks(ys, [f"{a['name']} ({a['quantization']})" for a in arts], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("size, KiB")
    ax.set_title("File size by artifact")
    ax.legend(fontsize=8)
    return _save(fig, target)


def write_plots(report: BenchReport, out_dir: str | Path) -> list[Path]:
    """Write the plots that have data; returns the paths written."""
    out = Path(out_dir)
    makers = (latency_vs_metric, latency_by_runtime, size_by_artifact)
    return [p for name, make in zip(PLOT_FILES, makers) if (p := make(report, out / name)) is not None]
