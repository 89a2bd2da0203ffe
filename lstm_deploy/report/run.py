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

#: Raw summary keys -> what a person reads (a key missing here is shown with underscores as spaces).
LABELS = {
    "epochs_run": "epochs trained", "params": "parameters", "macs": "multiply-accumulates per sequence",
    "method": "pruning method", "target_sparsity": "weights removed (target)", "achieved_sparsity": "weights removed (reached)",
    "metric": "metric", "metric_before": "before", "metric_after": "after", "metric_drop": "change",
    "gzip_bytes_before": "gzip size before (KB)", "gzip_bytes_after": "gzip size after (KB)",
    "p50_ms_before": "ONNX Runtime p50 before (ms)", "p50_ms_after": "ONNX Runtime p50 after (ms)", "speedup": "speed-up (x)",
    "steps_run": "fine-tune steps run", "best_step": "fine-tune step kept", "recovered": "accuracy recovered by fine-tuning",
    "target": "quantization target", "float": "float model", "simulated_quantized": "simulated quantized model",
    "sparsity_after": "weights at zero after QAT", "simulation_agreement": "simulation agrees with the artifact", "verdict": "verdict",
    "artifact": "artifact", "latency_ms": "host p50 (ms)", "size_bytes": "size (KB)", "gzip_bytes": "gzip size (KB)",
    "gzip_ratio": "gzip ratio", "partial": "search stopped early", "trials": "trials run",
}
_FRACTIONS = ("target_sparsity", "achieved_sparsity", "sparsity_after", "simulation_agreement")


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " "))


def _value(key: str, value: Any, metric: str | None) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if metric and (key in _METRIC_VALUES or key.endswith((" post-training", " QAT"))):
        return format_metric(metric, value)
    if metric and key == "metric_drop":
        return format_drop(metric, (-value if metric == "accuracy" else value) + 0.0)  # a drop of one point reads "-1.00 points"
    if key in _FRACTIONS and isinstance(value, (int, float)):
        return f"{100 * value:.1f} %"
    if key.endswith("bytes") or "bytes_" in key:
        return f"{value / 1024:.1f}"
    if key == "speedup" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return value


def _kv(summary: dict[str, Any]) -> str:
    """A two-column table of a step's summary with human labels; metrics in percent, sizes in KB (1 KB = 1024 bytes)."""
    metric = summary.get("metric")
    rows = []
    for key, value in summary.items():
        if value is None or isinstance(value, (list, dict)):
            continue
        rows.append((_label(key), _value(key, value, metric)))
    nested = summary.get("metrics") if isinstance(summary.get("metrics"), dict) else {}
    rows += [(f"test {k.replace('_', '-') if k == 'macro_f1' else k}", format_metric(k, v)) for k, v in nested.items()]
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
            headers = ["artifact", "format", "mode", "size (KB)", "quantized weights", "fused LSTM", "parity", "rel. error",
                       "metric (Keras -> artifact)", "same class as Keras"]
            body = _table(headers, [[r.get("artifact") or "(not written)", r["format"], r["quantization"], round(r["size_bytes"] / 1024, 1),
                                      "" if r.get("weights") is None else f"{r['quantized_weights']} of {r['weights']}",
                                      "yes" if r.get("fused") else "no", "pass" if r.get("passed") else "FAIL", r.get("rel_error"),
                                      _metric_change(r), "" if r.get("argmax_agreement") is None else f"{100 * r['argmax_agreement']:.1f} %"]
                                     for r in rows])
            body += "".join(f"\n\n{r['note']}" for r in rows if r.get("note"))
            if s.get("not_available"):
                body += f"\n\nnot available for that format (skipped): {', '.join(s['not_available'])}"
        elif step.name == "caption":
            body = _caption_table(s, str(Path(step.outputs.get("summary", "caption/captioning.json")).parent))
        elif step.name == "benchmark":
            md = out_dir / step.outputs.get("md", "benchmark/report.md")
            body = _embedded_benchmark(md) if md.exists() else "_benchmark report missing_"
        else:
            body = _kv(s)
        sections.append((title, body))
    return sections


def _caption_table(summary: dict[str, Any], folder: str = "caption") -> str:
    """One row per captioner (Keras, then each exported encoder/decoder pair), then a few test images with their captions."""
    headers = ["decoder", "format", "mode", "BLEU-4", "BLEU-1", "exact match", "same caption as Keras", "decoder (KB)", "ms / token"]
    rows = [[r["decoder"], r["format"], r["quantization"], f"{100 * r['bleu']:.1f} %", f"{100 * r.get('bleu1', 0):.1f} %", f"{100 * r['exact_match']:.1f} %",
             "" if r.get("agrees_with_keras") is None else f"{100 * r['agrees_with_keras']:.1f} %",
             "" if r.get("decoder_bytes") is None else round(r["decoder_bytes"] / 1024, 1), r.get("ms_per_token", "")]
            for r in summary.get("captions", [])]
    text = (f"{summary.get('images')} held-out images, greedy decoding unless a beam is named. BLEU in percent (0-100); "
            "exact match: the generated caption equals the human-written one.\n\n" + _table(headers, rows))
    return text + _caption_examples(summary.get("captions", []), folder)


def _caption_examples(rows: list[dict[str, Any]], folder: str) -> str:
    """The first test images with their human-written captions, then a table of what each captioner generated for them."""
    keras = next((r for r in rows if r.get("references")), None)
    if keras is None:
        return ""
    refs = keras["references"]
    lines = ["", "", "**Examples.** The first test images and their human-written captions; the table below says what each "
             "captioner generated for them.", ""]
    lines += [line for i, ref in enumerate(refs) for line in (f"![Image {i + 1}: \"{ref}\" (human-written)]({folder}/examples/{i + 1}.png)", "")]
    table = [["human-written", *refs]] + [[r["decoder"], *(r.get("examples") or [])[: len(refs)]] for r in rows if r.get("examples")]
    return "\n".join(lines) + "\n" + _table(["captioner", *(f"image {i + 1}" for i in range(len(refs)))], table)


def _metric_change(row: dict[str, Any]) -> str:
    if row.get("metric") is None or row.get("metric_source") is None:
        return ""
    return f"{row['metric']} {format_metric(row['metric'], row['metric_source'])} -> {format_metric(row['metric'], row['metric_artifact'])}"


def _embedded_benchmark(md: Path) -> str:
    """The benchmark stage's report.md minus its title, its recommendation (at the top of this page) and images
    (shown once, below), headings one level down."""
    lines, skipping = [], False
    for line in md.read_text(encoding="utf-8").splitlines()[1:]:
        if line.startswith("## "):
            skipping = line in ("## What to ship", "## Plots")  # the answer opens this page; the plots close it
        if not skipping and not line.startswith("!["):
            lines.append(("#" + line) if line.startswith("## ") else line)
    return "\n".join(lines).strip()


def recommendation(out_dir: Path, steps: Sequence[Any]) -> dict[str, Any] | None:
    """The benchmark step's ``recommendation`` (from its report.json), if the run had one."""
    import json

    step = next((s for s in steps if s.name == "benchmark"), None)
    path = out_dir / step.outputs.get("json", "benchmark/report.json") if step is not None else None
    if path is None or not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("recommendation")


def _images(out_dir: Path) -> list[Path]:
    return sorted((out_dir / "benchmark").glob("*.png")) if (out_dir / "benchmark").exists() else []


def _caption_images(out_dir: Path, steps: Sequence[Any]) -> dict[str, str]:
    """The caption step's example images, keyed as the report's Markdown names them."""
    step = next((s for s in steps if s.name == "caption"), None)
    if step is None:
        return {}
    folder = Path(step.outputs.get("summary", "caption/captioning.json")).parent
    return inline_images(sorted((out_dir / folder / "examples").glob("*.png")), prefix=f"{folder.as_posix()}/examples/")


def write_run_report(recipe: Any, out_dir: Path, steps: Sequence[Any], title: str | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; return both paths."""
    title = title or f"lstm-deploy report: {recipe.name}"
    from .recommend import render_markdown

    md = [f"# {title}", "", *render_markdown(recommendation(out_dir, steps)), recipe.description.strip(), "",
          f"lstm-deploy {__version__}; recipe: `recipe.yaml` in this folder. The sections below follow the run's steps.", ""]
    for name, body in _sections(out_dir, steps):
        md += [f"## {name}", "", body, ""]
    images = _images(out_dir)
    if images:
        from .figures import caption

        md += ["## Plots", ""] + [line for p in images for line in (f"![{caption(p.name)}](benchmark/{p.name})", "")]
    text = "\n".join(md)
    md_path = atomic_write_text(out_dir / "report.md", text)
    recipe_html = f"<h2>recipe</h2><pre>{html.escape(recipe.to_yaml())}</pre>"
    pictures = {**inline_images(images, prefix="benchmark/"), **_caption_images(out_dir, steps)}
    html_path = write_page(out_dir / "report.html", title, text, pictures, recipe_html)
    return md_path, html_path
