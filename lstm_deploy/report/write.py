"""Write a benchmark report's files: report.json, report.csv, report.md, the plots and report.html.

Above both halves it joins: :mod:`lstm_deploy.report.bench` (the report and its Markdown) and
:mod:`lstm_deploy.report.plots` (its figures), so neither imports the other back.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import InputError
from .bench import BenchReport
from .html import inline_images, write_page
from .plots import write_plots

__all__ = ["check_out_dir", "write_report"]


def check_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path; raises InputError when it exists and is not a directory."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a directory; choose a folder for the reports")
    return out


def write_report(report: BenchReport, out_dir: str | Path) -> dict[str, Path]:
    """Write report.json, report.csv, report.md, the plots and report.html into ``out_dir``.

    Example:
        >>> paths = write_report(report, "bench_out")        # doctest: +SKIP
        >>> sorted(paths)                                    # doctest: +SKIP
        ['csv', 'html', 'json', 'latency_by_runtime', 'latency_vs_metric', 'md', 'size_by_artifact']
    """
    out = check_out_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, out)
    md = report.to_markdown([p.name for p in plots])
    paths = {p.stem: p for p in plots}
    paths["json"] = atomic_write_text(out / "report.json", report.to_json() + "\n")
    paths["csv"] = atomic_write_text(out / "report.csv", report.to_csv())
    paths["md"] = atomic_write_text(out / "report.md", md)
    paths["html"] = write_page(out / "report.html", "lstm-deploy benchmark report", md, inline_images(plots))
    return paths
