"""A self-contained ``report.html``: the Markdown tables as HTML, plots inlined as base64.

Example:
    >>> write_html(report, "out/report.html", ["out/latency_vs_metric.png"])   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html as _html
import re
from pathlib import Path

from ..atomic import atomic_write_text
from .bench import BenchReport

_CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px}"
        "th{background:#f3f3f3}tr.pareto td{background:#eef8ee}blockquote{border-left:4px solid #e0a000;"
        "margin:1em 0;padding:.5em 1em;background:#fff8e6}img{max-width:100%}")


def _inline(text: str) -> str:
    text = _html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def markdown_to_html(md: str, images: dict[str, str]) -> str:
    """Convert the subset of Markdown our reports use (headings, tables, quotes, images, lists)."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if not table:
            return
        head, *body = table
        out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>")
        for row in body:
            cls = ' class="pareto"' if len(row) > 1 and row[1] == "★" else ""
            out.append(f"<tr{cls}>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
        out.append("</table>")
        table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                table.append(cells)
            continue
        flush()
        if m := re.match(r"^(#+) (.*)", line):
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif m := re.match(r"^!\[(.*)\]\((.*)\)", line):
            src = images.get(m.group(2))
            if src:
                out.append(f'<p><img alt="{_html.escape(m.group(1))}" src="{src}"></p>')
        elif line.startswith("> "):
            out.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line.startswith("- "):
            out.append(f"<ul><li>{_inline(line[2:])}</li></ul>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def write_html(report: BenchReport, target: str | Path, plots: list[str | Path]) -> Path:
    """Write ``target`` with every plot embedded (no external files needed to view it)."""
    images = {Path(p).name: "data:image/png;base64," + base64.b64encode(Path(p).read_bytes()).decode("ascii") for p in plots}
    body = markdown_to_html(report.to_markdown([Path(p).name for p in plots]), images)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>lstm-deploy benchmark report</title>'
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")
    return atomic_write_text(target, page)
