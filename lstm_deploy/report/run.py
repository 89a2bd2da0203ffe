"""The final ``report.md`` / ``report.html`` of a recipe run: every step on one page.

The benchmark section is the benchmark stage's own report (same tables and plots as
``lstm-deploy benchmark``); the other sections summarise data, model, compression and
export steps from their ``stage.json`` records. The HTML is self-contained (plots are
embedded), so it can be mailed or attached to a CI run.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any, Sequence

from .. import __version__
from ..atomic import atomic_write_text
from ..pipeline.recipe import Recipe


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _kv(summary: dict[str, Any]) -> str:
    flat = {k: v for k, v in summary.items() if v is not None and not isinstance(v, (list, dict))}
    nested = summary.get("metrics") if isinstance(summary.get("metrics"), dict) else {}
    flat.update({f"test {k}": v for k, v in nested.items()})
    return _table(("", "value"), list(flat.items())) if flat else "_nothing to report_"


def _sections(recipe: Recipe, out_dir: Path, steps: Sequence[Any]) -> list[tuple[str, str]]:
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
        elif step.name == "benchmark":
            md = out_dir / step.outputs.get("md", "benchmark/report.md")
            body = _embedded_benchmark(md) if md.exists() else "_benchmark report missing_"
        else:
            body = _kv(s)
        sections.append((title, body))
    return sections


def _metric_change(row: dict[str, Any]) -> str:
    if row.get("metric") is None or row.get("metric_source") is None:
        return ""
    return f"{row['metric']} {row['metric_source']:.4g} -> {row['metric_artifact']:.4g}"


def _embedded_benchmark(md: Path) -> str:
    """The benchmark stage's report.md minus its title and images (shown once, below), headings one level down."""
    lines = md.read_text(encoding="utf-8").splitlines()[1:]
    kept = [("#" + line) if line.startswith("## ") else line for line in lines if not line.startswith("![")]
    return "\n".join(kept).strip()


def _images(out_dir: Path) -> list[Path]:
    return sorted((out_dir / "benchmark").glob("*.png")) if (out_dir / "benchmark").exists() else []


def write_run_report(recipe: Recipe, out_dir: Path, steps: Sequence[Any], title: str | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; return both paths."""
    title = title or f"lstm-deploy report: {recipe.name}"
    sections = _sections(recipe, out_dir, steps)
    md = [f"# {title}", "", recipe.description.strip(), "", f"_lstm-deploy {__version__}; recipe: `recipe.yaml` in this folder._", ""]
    for name, body in sections:
        md += [f"## {name}", "", body, ""]
    images = _images(out_dir)
    if images:
        md += ["## plots", ""] + [f"![{p.stem}](benchmark/{p.name})" for p in images] + [""]
    md_path = atomic_write_text(out_dir / "report.md", "\n".join(md))

    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(recipe.description.strip())}</p>"]
    for name, text in sections:
        body.append(f"<h2>{html.escape(name)}</h2>")
        body.append(_md_to_html(text))
    for p in images:
        data = base64.b64encode(p.read_bytes()).decode()
        body.append(f'<figure><img alt="{p.stem}" src="data:image/png;base64,{data}"><figcaption>{html.escape(p.stem)}</figcaption></figure>')
    body.append(f"<h2>recipe</h2><pre>{html.escape(recipe.to_yaml())}</pre>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%}pre{background:#f7f7f7;padding:1em;overflow:auto}"
             "blockquote{border-left:4px solid #ccc;margin:1em 0;padding:.2em 1em;color:#555}ul{margin:.2em 0}")
    doc = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    html_path = atomic_write_text(out_dir / "report.html", doc)
    return md_path, html_path


_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _md_to_html(text: str) -> str:
    """Just enough Markdown for our own output: pipe tables, headings, quotes, bullets, bold."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        rows = [r for r in table if not all(c and set(c) <= {"-", ":"} for c in r)]  # drop |---|:-:| rows
        if rows:
            head, *body = rows
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
            out.append("</table>")
        table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append([c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(line.strip().strip("|"))])
            continue
        flush()
        if not line.strip():
            continue
        if line.startswith("#"):
            out.append(f"<h3>{_inline(line.lstrip('#').strip())}</h3>")
        elif line.startswith("> "):
            out.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line.startswith("- "):
            out.append(f"<ul><li>{_inline(line[2:])}</li></ul>")
        else:
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def _inline(text: str) -> str:
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
