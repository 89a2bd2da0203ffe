"""What each report plot is called and what it shows: names and captions, no plotting (and no matplotlib).

The Markdown writers (``report.bench``, ``report.run``) caption plots without importing ``report.plots``,
which draws them from a ``BenchReport`` and so sits above ``report.bench``.

Example:
    >>> caption("size_by_artifact.png").startswith("File size")
    True
"""

from __future__ import annotations

from pathlib import Path

PLOT_FILES = ("latency_vs_metric.png", "latency_by_runtime.png", "size_by_artifact.png")

#: What each plot shows, in a sentence (the figure caption in report.md / report.html).
CAPTIONS = {
    "latency_vs_metric": ("Host p50 latency of one call (log scale) against the test metric, one panel per batch size. "
                          "The shaded band is the budget: points inside it are within the allowed drop from the source model; "
                          "numbers point to the key on the right."),
    "latency_by_runtime": "Host latency per artifact and runtime: the bar is the median (p50), the whisker reaches p90. Lower is faster.",
    "size_by_artifact": "File size per artifact, raw and gzip -9 (what a download costs), in KB (1 KB = 1024 bytes). Shorter is smaller.",
}


def caption(name: str) -> str:
    """The caption of plot file ``name`` (``latency_vs_metric.png`` or its stem)."""
    return CAPTIONS.get(Path(name).stem, Path(name).stem.replace("_", " "))
