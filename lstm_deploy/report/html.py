"""The one Markdown -> HTML converter of lstm-deploy's reports, and self-contained pages.

Reports are written as Markdown first (``report.md``) and converted here, so the HTML and
the Markdown can never say different things. Only the subset the reports use is
supported: headings, pipe tables (``\\|`` escapes a pipe inside a cell), block quotes,
bullet lists, images (inlined as base64), ``code`` and ``**bold**``.

Example:
    >>> markdown_to_html("| a | b |\\n|---|---|\\n| 1 | **2** |", {})
    '<table><tr><th>a</th><th>b</th></tr>\\n<tr><td>1</td><td><b>2</b></td></tr>\\n</table>'
"""

from __future__ import annotations

import base64
import html as _html
import re
from pathlib import Path

from ..atomic import atomic_write_text

CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
       "th{background:#f3f3f3}tr.pareto td{background:#eef8ee}blockquote{border-left:4px solid #e0a000;"
       "margin:1em 0;padding:.5em 1em;background:#fff8e6}img{max-width:100%}pre{background:#f7f7f7;padding:1em;overflow:auto}"
       "ul{margin:.3em 0}")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_SEPARATOR = re.compile(r":?-+:?")


def _inline(text: str) -> str:
    text = _html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def _table(rows: list[list[str]]) -> str:
    head, *body = rows
    out = ["<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"]
    for row in body:
        cls = ' class="pareto"' if "★" in row[:2] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
    return "\n".join(out) + "\n</table>"


def markdown_to_html(md: str, images: dict[str, str]) -> str:
    """Convert report Markdown to HTML; ``images`` maps image paths to ``data:`` URIs (others are dropped)."""
    out: list[str] = []
    table: list[list[str]] = []
    bullets: list[str] = []

    def flush() -> None:
        if table:
            out.append(_table(table))
            table.clear()
        if bullets:
            out.append("<ul>" + "".join(f"<li>{_inline(b)}</li>" for b in bullets) + "</ul>")
            bullets.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(line.strip().strip("|"))]
            if not all(_SEPARATOR.fullmatch(c) for c in cells):
                table.append(cells)
            continue
        if line.startswith("- "):
            bullets.append(line[2:])
            continue
        flush()
        if m := re.match(r"^(#{1,6}) (.*)", line):
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif m := re.match(r"^!\[(.*)\]\((.*)\)", line):
            src = images.get(m.group(2))
            if src:
                out.append(f'<figure><img alt="{_html.escape(m.group(1))}" src="{src}"><figcaption>{_html.escape(m.group(1))}</figcaption></figure>')
        elif line.startswith("> "):
            out.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def inline_images(paths: list[Path], prefix: str = "") -> dict[str, str]:
    """``{prefix + file name: data URI}`` for PNG files, as :func:`markdown_to_html` takes them."""
    return {prefix + p.name: "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii") for p in paths}


def write_page(target: str | Path, title: str, md: str, images: dict[str, str], extra_html: str = "") -> Path:
    """Write a self-contained HTML page of report Markdown ``md`` (plots embedded) to ``target``."""
    body = markdown_to_html(md, images) + extra_html
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")
    return atomic_write_text(target, page)
