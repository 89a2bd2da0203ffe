"""``report.md`` of a search (the HTML page is made from it by :mod:`lstm_deploy.report.html`).

Example:
    >>> md = report_markdown(json.loads(Path("opt/report.json").read_text()), ["pareto_latency.png"])   # doctest: +SKIP
    >>> md.splitlines()[0]                                                                              # doctest: +SKIP
    '# lstm-deploy optimize: latency within 1.00 points'
"""

from __future__ import annotations

from typing import Any

from ..metrics import format_drop, format_metric
from .space import Candidate


def _kb(n: Any) -> str:
    return "-" if n is None else f"{n / 1024:.1f} KB"


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def _what(row: dict[str, Any]) -> str:
    if "candidate" in row:
        return Candidate(**row["candidate"]).label() + (" + QAT" if row.get("qat") else "")
    return f"original, {row['format']} {row['quantization']}"


def _headline(report: dict[str, Any]) -> list[str]:
    name, best, base = report["metric"], report["best"], report["baseline"]
    lines = [f"# lstm-deploy optimize: {report['objective']} within {format_drop(name, report['max_metric_drop']).lstrip('+')}", ""]
    if report["partial"]:
        lines += ["> **Partial result**: the search was interrupted (Ctrl-C); this is the best found so far.", ""]
    lines += [f"Model `{report['model']['file']}` ({report['model']['params']:,} parameters), data {report['data']['source']}; "
              f"{report['search']['trials_finished']} of {report['search']['trials_planned']} trials finished on {report['search']['executor']} "
              f"in {report['search']['seconds']:.0f} s.", ""]
    lines += ["| | artifact | what | " + name + " (x_test) | drop | p50 ms | size | gzip |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for label, row in (("baseline", base), ("**best**", best)):
        drop = "-" if row.get("metric_drop") is None else format_drop(name, row["metric_drop"])
        lines.append(f"| {label} | `{row['artifact']}` | {_what(row)} | {format_metric(name, row.get('metric'))} | {drop} | {_ms(row.get('latency_ms'))} "
                     f"| {_kb(row.get('size_bytes'))} | {_kb(row.get('gzip_bytes'))} |")
    ratios = [f"{best[k]:.2f}x {what}" for k, what in (("speedup", "faster"), ("size_ratio", "smaller"), ("gzip_ratio", "smaller gzipped")) if best.get(k)]
    lines += ["", "Winner vs baseline, measured in the same benchmark run: " + ", ".join(ratios) + ".", ""]
    return lines


def _trials(report: dict[str, Any]) -> list[str]:
    name = report["metric"]
    lines = ["## Trials", "", f"Validation {name} (the search never saw x_test); Pareto-optimal trials marked ★.", "",
             "| # | ★ | configuration | status | val " + name + " | drop | p50 ms | gzip | s |", "|---:|:-:|---|---|---:|---:|---:|---:|---:|"]
    front = set(report["pareto"])
    for t in report["trials"]:
        what = Candidate(**t["candidate"]).label() + (" + QAT" if t.get("qat") else "") if t.get("candidate") else "?"
        status = t["status"] if t["status"] == "ok" else f"{t['status']}: {t['reason']}"
        drop = "-" if t.get("val_drop") is None else format_drop(name, t["val_drop"])
        lines.append(f"| {t['number']} | {'★' if t['number'] in front else ''} | {what} | {status.replace('|', '/')} | "
                     f"{format_metric(name, t.get('val_metric'))} | {drop} | {_ms(t.get('latency_ms'))} | {_kb(t.get('gzip_bytes'))} | {t['seconds']:.0f} |")
    return lines + [""]


def report_markdown(report: dict[str, Any], plots: list[str]) -> str:
    """The whole Markdown report."""
    name = report["metric"]
    lines = _headline(report)
    lines += ["## Finalists (scored once on x_test)", "", "| trial | configuration | " + name + " | drop | within budget | p50 ms | gzip |",
              "|---:|---|---:|---:|:-:|---:|---:|"]
    for f in report["finalists"]:
        drop = "-" if f.get("metric_drop") is None else format_drop(name, f["metric_drop"])
        lines.append(f"| {f['trial']} | {_what(f)} | {format_metric(name, f.get('metric'))} | {drop} | {'yes' if f.get('within_budget') else 'no'} "
                     f"| {_ms(f.get('latency_ms'))} | {_kb(f.get('gzip_bytes'))} |")
    lines += [""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += _trials(report)
    space = report["space"]
    lines += ["## Search space", "", f"- units kept: {', '.join(space['units_kept']) or 'not searched'}",
              f"- magnitude sparsity: {'searched' if space['sparsity'] else 'not searched'}",
              f"- artifacts: {', '.join(space['artifacts'])}; threads: {', '.join(map(str, space['threads']))}",
              f"- QAT when post-training quantization loses: {'yes' if space['qat_when_ptq_loses'] else 'no'}", ""]
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    lines += ["Rebuild the winner: `lstm-deploy run recipe.yaml`.", ""]
    return "\n".join(lines)
