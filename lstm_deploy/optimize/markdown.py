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
        cand = Candidate(**row["candidate"])
        text = cand.label() + (" + QAT" if row.get("qat") else "")
        return f"original, {text}" if cand.plain else text
    return f"original, {row['format']} {row['quantization']}"


def _pct(name: str, v: Any) -> str:
    return format_metric(name, v) if v is not None else "-"


def _drop(name: str, v: Any) -> str:
    return "-" if v is None else format_drop(name, v)


def _recommendation(report: dict[str, Any]) -> list[str]:
    rec, name = report["recommendation"], report["metric"]
    lines = ["## What to ship", "", f"Budget: at most {format_drop(name, rec['budget']['max_drop']).lstrip('+')} lost on the confirmation rows.", "",
             "| goal | artifact | " + name + " (confirmation rows) | drop | p50 ms (host) | p99 ms (host) | size | why |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    labels = {"fastest_cpu": "fastest on this CPU", "smallest": "smallest file", "phone": "phone-class device"}
    for goal, g in rec["goals"].items():
        if g is None:
            lines.append(f"| {labels[goal]} | none kept the budget | | | | | | |")
            continue
        lines.append(f"| {labels[goal]}{' (tie)' if g['tie'] else ''} | `{g['artifact']}` | {_pct(name, g['metric'])} ({g['n_rows']} rows) | "
                     f"{_drop(name, g['metric_drop'])} | {_ms(g['p50_ms'])} | {_ms(g['p99_ms'])} | {_kb(g['size_bytes'])} | {g['why']} |")
    return lines + ["", rec["note"], ""]


def _headline(report: dict[str, Any]) -> list[str]:
    name, best, base, plain = report["metric"], report["best"], report["baseline"], report.get("plain_best")
    lines = [f"# lstm-deploy optimize: {report['objective']} within {format_drop(name, report['max_metric_drop']).lstrip('+')}", ""]
    if report["partial"]:
        lines += ["> **Partial result**: the search was interrupted (Ctrl-C); this is the best found so far.", ""]
    lines += _recommendation(report)
    s = report["search"]
    planned = f"of at most {s['trials_planned']} " if s["trials_planned"] else ""
    lines += [f"Model `{report['model']['file']}` ({report['model']['params']:,} parameters), data {report['data']['source']}; "
              f"{s['trials_finished']} trials {planned}finished on {s['executor']} in {s['seconds']:.0f} s "
              f"({s.get('repeats_not_run', 0)} repeated configurations answered without running).", "",
              f"Rows: {report['rows']['selection']['rows']} selection rows ({report['rows']['selection']['source']}) chose the candidates; "
              f"{report['rows']['confirmation']['rows']} confirmation rows of x_test, never used to choose, judged them.", ""]
    lines += ["| | artifact | what | " + name + " selection | " + name + " confirmation | drop (confirmation) | " + name + " all x_test "
              "| p50 ms | size | gzip |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [("baseline", base), ("best plain export", plain), ("**winner**", best)]
    for label, row in rows:
        if row is None:
            lines.append(f"| {label} | none | | | | | | | | |")
            continue
        lines.append(f"| {label} | `{row['artifact']}` | {_what(row)} | {_pct(name, row.get('selection_metric'))} | {_pct(name, row.get('metric'))} | "
                     f"{_drop(name, row.get('metric_drop'))} | {_pct(name, row.get('test_metric'))} | {_ms(row.get('latency_ms'))} "
                     f"| {_kb(row.get('size_bytes'))} | {_kb(row.get('gzip_bytes'))} |")
    ratios = [f"{best[k]:.2f}x {what}" for k, what in (("speedup", "faster"), ("size_ratio", "smaller"), ("gzip_ratio", "smaller gzipped")) if best.get(k)]
    lines += ["", "Winner vs baseline, measured in the same benchmark run: " + (", ".join(ratios) or "-") + ".", ""]
    return lines


def _trials(report: dict[str, Any]) -> list[str]:
    name = report["metric"]
    lines = ["## Trials", "", f"Selection-row {name} (the confirmation rows were never used here); Pareto-optimal trials marked ★.", "",
             "| # | ★ | configuration | status | selection " + name + " | drop | p50 ms | gzip | s |", "|---:|:-:|---|---|---:|---:|---:|---:|---:|"]
    front = set(report["pareto"])
    for t in report["trials"]:
        what = _what(t) if t.get("candidate") else "?"
        status = t["status"] if t["status"] == "ok" else f"{t['status']}: {t['reason']}"
        lines.append(f"| {t['number']} | {'★' if t['number'] in front else ''} | {what} | {status.replace('|', '/')} | "
                     f"{_pct(name, t.get('val_metric'))} | {_drop(name, t.get('val_drop'))} | {_ms(t.get('latency_ms'))} | {_kb(t.get('gzip_bytes'))} | {t['seconds']:.0f} |")
    return lines + [""]


def _range(r: dict[str, Any] | None, what: str) -> str:
    if r is None:
        return "not searched"
    return f"{r['min']:.0%} to {r['max']:.0%} {what}, in steps of {r['step']:.0%}"


def _space(report: dict[str, Any]) -> list[str]:
    space = report["space"]
    units = space["units_removed"]
    where = "" if units is None else (" per layer (" if units["per_layer"] else " in every layer of (") + ", ".join(units["layers"]) + ")"
    return ["## Search space", "",
            f"- units removed (as `prune --method units --sparsity` counts them): {_range(units, 'of LSTM units')}{where}",
            f"- magnitude sparsity of the remaining weights: {_range(space['sparsity'], 'of weights zeroed')}",
            f"- artifacts: {', '.join(space['artifacts'])}; threads: {', '.join(map(str, space['threads']))}",
            f"- QAT when post-training quantization loses: {'yes' if space['qat_when_ptq_loses'] else 'no'}",
            f"- known-good routes tried first: {space['known_routes']} (every plain export; half and a quarter of the units removed with "
            "each fast mode)", ""]


def _confirmation(report: dict[str, Any]) -> list[str]:
    name, c = report["metric"], report["confirmation"]
    lines = ["## Confirmation", "", f"{c['candidates_confirmed']} candidates confirmed on the confirmation rows in {c['rounds']} round(s); "
             f"{c['kept_budget']} kept the budget.", "",
             "| trial | role | configuration | selection drop | " + name + " confirmation | drop | kept budget | p50 ms | gzip | why not |",
             "|---:|---|---|---:|---:|---:|:-:|---:|---:|---|"]
    for f in report["finalists"]:
        lines.append(f"| {f.get('trial', '-')} | {f.get('role', '')} | {_what(f)} | {_drop(name, f.get('selection_drop'))} | {_pct(name, f.get('metric'))} | "
                     f"{_drop(name, f.get('metric_drop'))} | {'yes' if f.get('within_budget') else 'no'} | {_ms(f.get('latency_ms'))} "
                     f"| {_kb(f.get('gzip_bytes'))} | {(f.get('why') or '').replace('|', '/')} |")
    return lines + [""]


def report_markdown(report: dict[str, Any], plots: list[str]) -> str:
    """The whole Markdown report."""
    lines = _headline(report)
    lines += _confirmation(report)
    lines += [f"![{p}]({p})" for p in plots] + [""]
    lines += _trials(report)
    lines += _space(report)
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    lines += ["Rebuild the winner: `lstm-deploy run recipe.yaml`.", ""]
    return "\n".join(lines)
