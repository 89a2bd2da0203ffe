"""The benchmark report: one versioned structure, written as JSON, CSV and Markdown.

The JSON layout is documented in ``docs/report_schema.md``; :data:`SCHEMA_VERSION`
changes whenever a field is renamed or removed (adding fields keeps the version).

Example:
    >>> r = BenchReport(results=[{"artifact": "m.tflite", "runtime": "tflite", "status": "ok",
    ...                           "batch_size": 1, "p50_ms": 1.0, "accuracy": 0.9}])
    >>> mark_pareto(r.results); r.results[0]["pareto"]
    True
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .. import __version__
from ..errors import InputError
from .arm64 import arm64_markdown

SCHEMA = "lstm-deploy/benchmark-report"
SCHEMA_VERSION = 1

#: Column order of report.csv and of each result row in report.json.
ROW_FIELDS = (
    "artifact", "format", "quantization", "runtime", "status", "reason", "batch_size", "threads", "batching", "mode", "state",
    "repeats", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "throughput_seq_s", "steps", "step_p50_ms", "step_p99_ms",
    "import_ms", "load_ms", "first_inference_ms", "baseline_rss_mb", "runtime_rss_mb", "peak_rss_mb", "size_bytes", "gzip_bytes",
    "eval_samples", "accuracy", "macro_f1", "mae", "rmse", "reference", "agreement", "max_abs_diff",
    "rel_error", "pareto",
)

HOST_NOTE = ("Host numbers are not phone numbers: these latencies were measured on this machine's CPU. "
             "Use --adb SERIAL to measure LiteRT on an Android device; phone CPUs, thermals and "
             "big.LITTLE scheduling change the ranking.")


@dataclass
class BenchReport:
    """Everything one benchmark run measured; ``results`` holds one dict per row (see ROW_FIELDS)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    runtimes: list[dict[str, Any]] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    adb: list[dict[str, Any]] = field(default_factory=list)
    arm64: dict[str, Any] | None = None  # ``--arch arm64``: emulated rows, see report/arm64.py
    notes: list[str] = field(default_factory=lambda: [HOST_NOTE])
    recommendation: dict[str, Any] | None = None
    created_utc: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    tool_version: str = __version__
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["results"] = [{k: row.get(k) for k in ROW_FIELDS} for row in self.results]
        return {"schema": data.pop("schema"), "schema_version": data.pop("schema_version"), "recommendation": data.pop("recommendation"), **data}

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BenchReport":
        """Rebuild a report from ``report.json`` contents, refusing other schemas or versions."""
        if data.get("schema") != SCHEMA or data.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"report: expected schema {SCHEMA} version {SCHEMA_VERSION}, "
                             f"found {data.get('schema')} version {data.get('schema_version')}")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Alias of ``results``."""
        return self.results

    def ok_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r.get("status") == "ok"]

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(ROW_FIELDS), lineterminator="\n")
        writer.writeheader()
        for row in self.results:
            writer.writerow({k: _cell(row.get(k)) for k in ROW_FIELDS})
        return buf.getvalue()

    def to_markdown(self, plots: list[str] | None = None) -> str:
        return render_markdown(self, plots or [])


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: turn them into null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def quality(row: dict[str, Any]) -> float | None:
    """Higher is better: accuracy for classification, minus RMSE for regression."""
    if row.get("accuracy") is not None:
        return float(row["accuracy"])
    if row.get("rmse") is not None:
        return -float(row["rmse"])
    return None


def mark_pareto(rows: list[dict[str, Any]]) -> None:
    """Set ``pareto`` on ok rows: True when no row of the same batch size is both faster and better.

    Latency is ``p50_ms`` (lower is better); quality is :func:`quality` (rows without a
    metric count as worst). Rows that were not measured get ``pareto = None``.
    """
    ok = [r for r in rows if r.get("status") == "ok" and r.get("p50_ms") is not None]
    for r in rows:
        r["pareto"] = None
    for r in ok:
        q = quality(r)
        q = -math.inf if q is None else q
        dominated = False
        for o in ok:
            if o is r or o.get("batch_size") != r.get("batch_size"):
                continue
            oq = quality(o)
            oq = -math.inf if oq is None else oq
            if o["p50_ms"] <= r["p50_ms"] and oq >= q and (o["p50_ms"] < r["p50_ms"] or oq > q):
                dominated = True
                break
        r["pareto"] = not dominated


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ok rows sorted by batch size, then p50 latency."""
    return sorted((r for r in rows if r.get("status") == "ok"), key=lambda r: (r["batch_size"], r["p50_ms"]))


def _f(value: Any, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _metric_cells(row: dict[str, Any]) -> str:
    if row.get("accuracy") is not None:
        return f"{_pct(row['accuracy'])} | {_pct(row.get('macro_f1'))}"
    if row.get("rmse") is not None:
        return f"{row['mae']:.4g} | {row['rmse']:.4g}"
    return "- | -"


def render_markdown(report: BenchReport, plots: list[str]) -> str:
    """Markdown: results per batch size ranked by p50 (Pareto rows marked), skipped rows, machine."""
    m = report.machine
    names = ("accuracy", "macro-F1") if report.task == "classification" else ("MAE", "RMSE")
    from .recommend import render_markdown as recommendation_md

    lines = ["# lstm-deploy benchmark report", "", *recommendation_md(report.recommendation)]
    lines += [f"Created {report.created_utc} with lstm-deploy {report.tool_version} (schema {report.schema} v{report.schema_version}). "
              f"Machine: {m.get('cpu_model', '?')}, {m.get('cpu_usable', '?')} usable cores. "
              f"Settings: warm-up {report.settings.get('warmup')}, repeats {report.settings.get('repeats')}, "
              f"seed {report.settings.get('seed')}.", ""]
    lines += [f"> {note}" for note in report.notes] + [""]
    for batch in sorted({r["batch_size"] for r in report.ok_rows()}):
        lines += [f"## Batch size {batch} (every measurement, ranked by p50 latency; ★ = no other row is better beyond noise)", "",
                  f"| # | ★ | artifact | mode | runtime | threads | batching | p50 ms | p90 ms | p99 ms | seq/s | load ms | peak RSS MiB | size KB (gzip) | {names[0]} | {names[1]} | agreement |",
                  "|---:|:-:|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for i, r in enumerate((r for r in ranked(report.results) if r["batch_size"] == batch), 1):
            size = f"{r['size_bytes'] / 1024:.1f} ({r['gzip_bytes'] / 1024:.1f})" if r.get("size_bytes") else "-"
            lines.append(
                f"| {i} | {'★' if r.get('pareto') else ''} | {r['artifact']} | {r.get('quantization') or '-'} | {r['runtime']} | "
                f"{r['threads']} | {r.get('batching') or '-'} | {_f(r['p50_ms'])} | {_f(r['p90_ms'])} | {_f(r['p99_ms'])} | "
                f"{_f(r.get('throughput_seq_s'), '.0f')} | {_f(r.get('load_ms'), '.0f')} | {_f(r.get('peak_rss_mb'), '.0f')} | "
                f"{size} | {_metric_cells(r)} | {_pct(r.get('agreement'))} |")
        lines += ["", *legend(report, batch), ""]
    lines += _streaming_section(report)
    skipped = [r for r in report.results if r.get("status") != "ok"]
    if skipped:
        groups: dict[tuple[str, str, str], list[str]] = {}
        for r in skipped:
            groups.setdefault((r["runtime"], r["status"], str(r.get("reason") or "")), []).append(str(r.get("artifact")))
        lines += ["## Not measured", "", "| runtime | status | reason | artifacts |", "|---|---|---|---|"]
        lines += [f"| {rt} | {st} | {why.replace('|', '/')} | {', '.join(a)} |" for (rt, st, why), a in groups.items()]
        lines.append("")
    lines += arm64_markdown(report.arm64)
    if report.adb:
        lines += ["## Android device (adb)", "", "| artifact | device | threads | avg ms | init ms | first ms |", "|---|---|---:|---:|---:|---:|"]
        lines += [f"| {a.get('artifact')} | {a.get('device')} | {a.get('threads')} | {_f(a.get('avg_ms'))} | {_f(a.get('init_ms'))} | {_f(a.get('first_inference_ms'))} |" for a in report.adb]
        lines.append("")
    from .figures import caption

    lines += (["## Plots", ""] if plots else []) + [line for p in plots for line in (f"![{caption(p)}]({p})", "")]
    lines += ["## Machine", "", f"- CPU: {m.get('cpu_model')} ({m.get('cpu_count')} logical, {m.get('cpu_usable')} usable), "
              f"memory {m.get('memory_gib')} GiB, GPU: {m.get('gpu') or 'none'}", f"- OS: {m.get('os')}, Python {m.get('python')}"]
    vers = m.get("versions") or {}
    lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v))
    lines += ["", "## Runtimes", "", "| runtime | formats | available (pre-check) | notes |", "|---|---|---|---|"]
    lines += [f"| {rt['name']} | {', '.join(rt['formats'])} | {'yes' if rt['available'] else 'no'} | {rt.get('reason') or rt.get('description', '')} |" for rt in report.runtimes]
    return "\n".join(lines) + "\n"


def legend(report: BenchReport, batch: int) -> list[str]:
    """What each column of a batch table means, and how much of a metric difference is noise.

    Example:
        >>> legend(report, 32)[0]                     # doctest: +SKIP
        '**Columns.** p50 / p90 / p99 ms: latency of one call on 32 sequences ...'
    """
    rows = [r for r in report.ok_rows() if r["batch_size"] == batch]
    per = f"one call on {batch} sequences (per sequence: divide by {batch})" if batch > 1 else "one call on one sequence"
    names = ("accuracy", "macro-F1") if report.task == "classification" else ("MAE", "RMSE")
    lines = [f"**Columns.** p50 / p90 / p99 ms: latency of {per}, median / 90th / 99th percentile of the timed calls. "
             f"seq/s: sequences per second at this batch. load ms: loading the artifact. peak RSS: the worker's memory. "
             f"{names[0]} / {names[1]}: on the test set. agreement: share of test samples whose predicted class equals the "
             f"source Keras model's (the reference); 1 - relative L2 error for regression. ★: no other row is faster beyond the "
             f"latency spread without being less accurate, or more accurate (exact McNemar test on the same samples, p < 0.05) "
             f"without being slower. mode: the artifact's quantization. 1 KB = 1024 bytes."]
    n = max((int(r.get("eval_samples") or 0) for r in rows), default=0)
    if report.task == "classification" and n:
        scores = [r["accuracy"] for r in rows if r.get("accuracy") is not None]
        spread = (max(scores) - min(scores)) if scores else 0.0
        if spread == 0:
            lines += ["", f"**Noise.** Every row scores the same accuracy on the {n} test samples: the ★ marks follow latency alone."]
        elif spread <= 2 / n + 1e-12:
            lines += ["", f"**Noise.** Accuracies here differ by at most {spread:.1%}, within two of {n} test samples "
                          f"(one sample = {1 / n:.1%}): rank these rows by latency and size (the ★ marks already do)."]
        else:
            lines += ["", f"**Noise.** One test sample is {1 / n:.1%} of accuracy ({n} samples): differences of one or "
                          f"two samples are within noise."]
    return lines


def _streaming_section(report: BenchReport) -> list[str]:
    """Per-step latency of streaming artifacts, next to the stepped whole sequence and how state is kept."""
    rows = [r for r in report.ok_rows() if r.get("mode") == "streaming"]
    if not rows:
        return []
    lines = ["## Streaming (one time step per call)", "",
             "| artifact | runtime | batch | threads | steps | step p50 ms | step p99 ms | sequence p50 ms (stepped) | state |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r['artifact']} | {r['runtime']} | {r['batch_size']} | {r['threads']} | {r.get('steps')} | {_f(r.get('step_p50_ms'))} | "
              f"{_f(r.get('step_p99_ms'))} | {_f(r['p50_ms'])} | {r.get('state') or '-'} |" for r in rows]
    return lines + [""]
