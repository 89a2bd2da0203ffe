"""The ``recommendation`` of an optimize report: what to ship for each goal, within the budget.

Goals: ``fastest_cpu`` (lowest p50 on this host), ``smallest`` (fewest gzip bytes: what a
download or an app bundle costs), ``phone`` (the smallest int8 or dynamic-range TFLite: what
runs on a phone-class CPU; its latency there is not measured here). Only entries that kept the
budget on the confirmation rows qualify. ``tie`` is true when the runner-up is within the noise
(p50 within :data:`LATENCY_TIE` of each other; sizes within :data:`SIZE_TIE`); the pick is then
the smaller (for speed) or the faster (for size).

Example:
    >>> rec = recommendation(entries, "accuracy", 0.01, "out")         # doctest: +SKIP
    >>> rec["goals"]["fastest_cpu"]["artifact"], rec["goals"]["fastest_cpu"]["tie"]   # doctest: +SKIP
    ('trials/0007/model.dynamic.onnx', False)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..metrics import format_drop, format_metric

LATENCY_TIE = 0.05
SIZE_TIE = 0.01
PHONE_MODES = (("tflite", "int8"), ("tflite", "dynamic"))


def _close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def _pick(pool: list[dict[str, Any]], key: str, other: str, rel: float) -> tuple[dict[str, Any] | None, bool]:
    pool = [e for e in pool if e.get(key) is not None]
    if not pool:
        return None, False
    pool.sort(key=lambda e: e[key])
    ties = [e for e in pool if _close(e[key], pool[0][key], rel)]
    if len(ties) == 1:
        return pool[0], False
    return min(ties, key=lambda e: (e.get(other) if e.get(other) is not None else float("inf"))), True


def _goal(e: dict[str, Any] | None, tie: bool, why: str, what: str, name: str, out: Path) -> dict[str, Any] | None:
    if e is None:
        return None
    path = Path(e["path"]).resolve()
    try:
        artifact = str(path.relative_to(out.resolve()))
    except ValueError:
        artifact = path.name
    return {"artifact": artifact, "format": e["format"], "mode": e["quantization"], "metric": e["metric"], "metric_drop": e["metric_drop"],
            "n_rows": e["n_confirm"], "p50_ms": e.get("p50_ms"), "p99_ms": e.get("p99_ms"), "size_bytes": e.get("size_bytes"),
            "why": f"{why} ({what}; {name} {format_metric(name, e['metric'])} on {e['n_confirm']} confirmation rows, "
                   f"drop {format_drop(name, e['metric_drop'])})" + ("; tie within noise, broken by the next goal" if tie else ""),
            "tie": tie}


def recommendation(entries: list[dict[str, Any]], metric: str, max_drop: float, out: Path, note: str = "") -> dict[str, Any]:
    """The ``recommendation`` object (see the module docstring) from every confirmed entry."""
    ok = [e for e in entries if e.get("within_budget")]
    fast, fast_tie = _pick(ok, "p50_ms", "gzip_bytes", LATENCY_TIE)
    small, small_tie = _pick(ok, "gzip_bytes", "p50_ms", SIZE_TIE)
    phone, phone_tie = _pick([e for e in ok if (e["format"], e["quantization"]) in PHONE_MODES], "gzip_bytes", "p50_ms", SIZE_TIE)
    goals = {
        "fastest_cpu": _goal(fast, fast_tie, "lowest p50 latency on this host", "host CPU, batch as searched", metric, out),
        "smallest": _goal(small, small_tie, "fewest gzip bytes", "what a download costs", metric, out),
        "phone": _goal(phone, phone_tie, "smallest int8 / dynamic-range TFLite", "phone latency is not measured here", metric, out),
    }
    notes = [note] if note else []
    if not ok:
        notes.append("nothing kept the budget on the confirmation rows: raise --max-metric-drop, give more test rows, or try --finetune-steps")
    elif goals["phone"] is None and not any(e["format"] == "tflite" for e in entries):
        notes.append("no TFLite artifact was searched (--format onnx): for a phone, search --format tflite or any")
    elif goals["phone"] is None:
        notes.append("no int8 or dynamic-range TFLite kept the budget: for a phone, try lstm-deploy quantize (QAT) then export")
    return {"budget": {"metric": metric, "max_drop": max_drop}, "goals": goals,
            "note": "; ".join(n.rstrip(".") for n in notes) + "." if notes else "every goal judged on the confirmation rows."}
