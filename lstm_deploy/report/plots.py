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

from .figures import CAPTIONS, PLOT_FILES, caption  # noqa: F401  (re-exported: the reports import them from here too)


def _budget_band(report: BenchReport, metric: str, values: list[float]) -> tuple[float, float, float] | None:
    """``(source metric, edge of the budget, axis span)`` when the report has a budget and a source metric."""
    rec = report.recommendation or {}
    budget = (rec.get("budget") or {}).get("max_drop")
    refs = [float(r[metric]) for r in report.ok_rows() if r.get("format") == "keras" and r.get(metric) is not None]
    goal = next((g for g in (rec.get("goals") or {}).values() if g), None)
    if not refs and goal is not None:
        refs = [goal["metric"] + goal["metric_drop"] if metric == "accuracy" else goal["metric"] - goal["metric_drop"]]
    if budget is None or not refs:
        return None
    ref = refs[0]
    edge = ref - budget if metric == "accuracy" else ref + budget
    return ref, edge, max(abs(v - ref) for v in values + [edge])


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


def _log_axis(ax: Any) -> None:
    """A log x axis whose labels never overprint: 1-2-5 major ticks as plain numbers, unlabelled minor ticks."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # labelled ticks inside even a narrow range
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor log ticks overprinted each other


def latency_vs_metric(report: BenchReport, target: Path) -> Path | None:
    """Write :func:`latency_vs_metric_figure` to ``target`` (``None`` when no row has a task metric)."""
    fig = latency_vs_metric_figure(report)
    return None if fig is None else _save(fig, target)


def latency_vs_metric_figure(report: BenchReport) -> Any:
    """One panel per batch size (first thread count): every point numbered, the key beside the panels.

    Numbers instead of names keep labels from overprinting; points at the same place get stacked
    numbers. The Pareto front is a line when it has two or more points, else a ring.

    Example:
        >>> [ax.get_title() for ax in latency_vs_metric_figure(report).axes]     # doctest: +SKIP
        ['batch 1', 'batch 32']
    """
    rows_all = [r for r in ranked(report.results) if quality(r) is not None]
    if not rows_all:
        return None
    plt = _pyplot()
    import math

    metric = "accuracy" if rows_all[0].get("accuracy") is not None else "rmse"
    batches = sorted({r["batch_size"] for r in rows_all})
    keys = list(dict.fromkeys((r["artifact"], r["runtime"]) for r in rows_all))
    colors = {rt: f"C{i % 10}" for i, rt in enumerate(sorted({r["runtime"] for r in rows_all}))}
    fig, axes = plt.subplots(1, len(batches), figsize=(5.2 * len(batches) + 3.2, 4.8), squeeze=False)
    for ax, batch in zip(axes[0], batches):
        threads = min(r["threads"] for r in rows_all if r["batch_size"] == batch)
        rows = [r for r in rows_all if r["batch_size"] == batch and r["threads"] == threads]
        for runtime, color in colors.items():
            pts = [r for r in rows if r["runtime"] == runtime]
            if pts:
                ax.scatter([r["p50_ms"] for r in pts], [r[metric] for r in pts], color=color, label=runtime, s=36, zorder=3)
        placed: list[tuple[float, float]] = []
        for r in rows:  # the number of each point; points within ~7 % latency at one metric value stack upwards
            x, y = math.log10(r["p50_ms"]), float(r[metric])
            k = sum(1 for px, py in placed if abs(px - x) < 0.03 and abs(py - y) < 1e-9)
            placed.append((x, y))
            ax.annotate(str(keys.index((r["artifact"], r["runtime"])) + 1), (r["p50_ms"], r[metric]), fontsize=7,
                        xytext=(4, 3 + 8 * k), textcoords="offset points")
        front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["p50_ms"])
        if len(front) >= 2:
            ax.step([r["p50_ms"] for r in front], [r[metric] for r in front], where="post", color="black",
                    linestyle="--", linewidth=1, label="Pareto front")
        elif front:
            ax.scatter([front[0]["p50_ms"]], [front[0][metric]], s=160, facecolors="none", edgecolors="black", label="Pareto-optimal")
        _log_axis(ax)
        band = _budget_band(report, metric, [float(r[metric]) for r in rows])
        if band is not None:  # the axis shows the budget, so a spread of a few samples is not magnified into a cliff
            ref, edge, span = band
            ax.axhspan(min(ref, edge), max(ref, edge), color="tab:green", alpha=0.12, label="within budget")
            ax.axhline(ref, color="tab:green", linewidth=1, linestyle=":", label="source model")
            pad = max(span, abs(ref - edge)) * 1.6
            lo, hi = ref - pad, ref + pad
            if metric == "accuracy":
                lo, hi = max(lo, 0.0), min(hi, 1.0 + 1e-9)
            ax.set_ylim(lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo))
        if metric == "accuracy":
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        per = "one sequence" if batch == 1 else f"a batch of {batch}"
        ax.set_xlabel(f"host p50 ms per call on {per} ({threads} thread(s), log scale)")
        ax.set_ylabel(f"{metric} on the test set" + (" (lower is better)" if metric == "rmse" else ""))
        ax.set_title(f"batch {batch}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Latency vs task metric", y=1.0)
    key = "\n".join(f"{i}: {a} ({rt})" for i, (a, rt) in enumerate(keys, 1))
    fig.tight_layout(rect=(0, 0, 1 - 3.0 / (5.2 * len(batches) + 3.2), 0.97))
    fig.text(1 - 2.95 / (5.2 * len(batches) + 3.2), 0.9, key, fontsize=7, va="top", family="monospace")
    return fig


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
    _log_axis(ax)
    ax.set_xlabel(f"host p50 latency, ms (bar) to p90 (whisker); batch {rows[0]['batch_size']}, {rows[0]['threads']} thread(s), log scale")
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
    ax.set_xlabel("size, KB (1 KB = 1024 bytes)")
    ax.set_title("File size by artifact")
    ax.legend(fontsize=8)
    return _save(fig, target)


def write_plots(report: BenchReport, out_dir: str | Path) -> list[Path]:
    """Write the plots that have data; returns the paths written."""
    out = Path(out_dir)
    makers = (latency_vs_metric, latency_by_runtime, size_by_artifact)
    return [p for name, make in zip(PLOT_FILES, makers) if (p := make(report, out / name)) is not None]
