"""The final ``report.md`` / ``report.html`` of a recipe run: every step on one page.

The benchmark section is the benchmark stage's own report (same tables and plots as
``lstm-deploy benchmark``); the other sections summarise data, model, compression and
export steps from their ``stage.json`` records. The HTML is self-contained (plots are
embedded), so it can be mailed or attached to a CI run.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

from .. import __version__
from ..atomic import atomic_write_text
from ..metrics import format_drop, format_metric
from .html import inline_images, write_page


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


_METRIC_VALUES = ("metric_before", "metric_after", "float", "simulated_quantized")


def _kv(summary: dict[str, Any]) -> str:
    """A two-column table of a step's summary; metric values printed as people read them (percent for accuracy)."""
    metric = summary.get("metric")
    rows = []
    for key, value in summary.items():
        if value is None or isinstance(value, (list, dict)):
            continue
        if metric and (key in _METRIC_VALUES or key.endswith((" post-training", " QAT"))):
            value = format_metric(metric, value)
        elif metric and key == "metric_drop":
            value = format_drop(metric, value)
        rows.append((key, value))
    nested = summary.get("metrics") if isinstance(summary.get("metrics"), dict) else {}
    rows += [(f"test {k}", format_metric(k, v)) for k, v in nested.items()]
    return _table(("", "value"), rows) if rows else "_nothing to report_"


def _sections(out_dir: Path, steps: Sequence[Any]) -> list[tuple[str, str]]:
    sections: list[tuple[str, str]] = []
    for step in steps:
        if step.name == "report":
            continue
        s = step.summary
        status = "unchanged, reused" if step.skipped else f"{step.seconds:.1f} s"
        title = f"{step.name} ({status})"
        if step.name == "data":
            body = f"{s.get('description', '')}\n\ntask: **{s.get('task')}**"
        elif step.name == "export":
            rows = s.get("artifacts", [])
            headers = ["artifact", "format", "quantization", "size (KB)", "fused LSTM", "parity", "rel. error", "metric (Keras -> artifact)", "argmax agreement"]
            body = _table(headers, [[r.get("artifact") or "(not written)", r["format"], r["quantization"], round(r["size_bytes"] / 1024, 1),
                                      "yes" if r.get("fused") else "no", "pass" if r.get("passed") else "FAIL", r.get("rel_error"),
                                      _metric_change(r), r.get("argmax_agreement")] for r in rows])
            if s.get("not_available"):
                body += f"\n\nnot available for that format (skipped): {', '.join(s['not_available'])}"
        elif step.name == "caption":
            body = _caption_table(s)
        elif step.name == "benchmark":
            md = out_dir / step.outputs.get("md", "benchmark/report.md")
            body = _embedded_benchmark(md) if md.exists() else "_benchmark report missing_"
        else:
            body = _kv(s)
        sections.append((title, body))
    return sections


def _caption_table(summary: dict[str, Any]) -> str:
    """One row per captioner (Keras, then each exported encoder/decoder pair): BLEU, exact match, agreement, size, latency."""
    headers = ["decoder", "format", "mode", "BLEU-4", "BLEU-1", "exact match", "same caption as Keras", "decoder (KB)", "ms / token"]
    rows = [[r["decoder"], r["format"], r["quantization"], f"{100 * r['bleu']:.1f}", f"{100 * r.get('bleu1', 0):.1f}", f"{100 * r['exact_match']:.1f} %",
             "" if r.get("agrees_with_keras") is None else f"{100 * r['agrees_with_keras']:.1f} %",
             "" if r.get("decoder_bytes") is None else round(r["decoder_bytes"] / 1024, 1), r.get("ms_per_token", "")]
            for r in summary.get("captions", [])]
    return f"{summary.get('images')} held-out images, greedy decoding unless a beam is named\n\n" + _table(headers, rows)


def _metric_change(row: dict[str, Any]) -> str:
    if row.get("metric") is None or row.get("metric_source") is None:
        return ""
    return f"{row['metric']} {format_metric(row['metric'], row['metric_source'])} -> {format_metric(row['metric'], row['metric_artifact'])}"


def _embedded_benchmark(md: Path) -> str:
    """The benchmark stage's report.md minus its title and images (shown once, below), headings one level down."""
    lines = md.read_text(encoding="utf-8").splitlines()[1:]
    kept = [("#" + line) if line.startswith("## ") else line for line in lines if not line.startswith("![")]
    return "\n".join(kept).strip()


def _images(out_dir: Path) -> list[Path]:
    return sorted((out_dir / "benchmark").glob("*.png")) if (out_dir / "benchmark").exists() else []


def write_run_report(recipe: Any, out_dir: Path, steps: Sequence[Any], title: str | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; return both paths."""
    title = title or f"lstm-deploy report: {recipe.name}"
    md = [f"# {title}", "", recipe.description.strip(), "", f"lstm-deploy {__version__}; recipe: `recipe.yaml` in this folder.", ""]
    for name, body in _sections(out_dir, steps):
        md += [f"## {name}", "", body, ""]
    images = _images(out_dir)
    if images:
        md += ["## plots", ""] + [f"![{p.stem}](benchmark/{p.name})" for p in images] + [""]
    text = "\n".join(md)
    md_path = atomic_write_text(out_dir / "report.md", text)
    recipe_html = f"<h2>recipe</h2><pre>{html.escape(recipe.to_yaml())}</pre>"
    html_path = write_page(out_dir / "report.html", title, text, inline_images(images, prefix="benchmark/"), recipe_html)
    return md_path, html_path
