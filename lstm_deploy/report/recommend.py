"""Which artifact to ship: one answer per goal, within an accuracy budget, never decided by noise.

Pure functions over benchmark rows (no TensorFlow). Three goals:

- ``fastest_cpu``: the lowest p50 latency on this host's CPU (GPU runtimes are left out);
- ``smallest``: the smallest file;
- ``phone``: a TFLite artifact with quantized weights (``int8`` or ``dynamic``) when one passes,
  else a float TFLite (phone latency is not measured on this host).

Every candidate must stay within the budget (``metric_drop <= max_drop``, the drop counted
against the source Keras model on the same test rows). A difference decides a goal only
when the numbers support it:

- accuracy: an exact McNemar test on the same samples (:func:`mcnemar_exact`; for
  regression the same exact sign test on per-sample squared errors), significant at
  ``p < ALPHA``;
- latency: p50s closer than their spread (:func:`latency_tie`: twice the combined standard
  error of the medians over the timed calls, :func:`median_se`), or within ``LATENCY_FLOOR``
  of the slower;
- size: files within ``SIZE_TIE`` of each other.

A tie is broken by the next goal (size, then latency, then simplicity of the runtime:
fp32 before float16 before dynamic before int8) and is reported as ``tie: true``.

Example:
    >>> mcnemar_exact(0, 3)              # 3 samples flipped one way, none the other
    0.25
    >>> round(mcnemar_exact(2, 12), 4)
    0.0129
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

ALPHA = 0.05
LATENCY_FLOOR = 0.05  # relative: p50s within 5 % are a tie whatever the spread (runs drift: docs/reports.md)
SIZE_TIE = 0.02  # relative: files within 2 % are a tie
DEFAULT_MAX_DROP = 0.01  # one accuracy point
DEFAULT_RMSE_INCREASE = 0.05  # regression: 5 % of the source RMSE (as export's default budget)
#: Runtimes that do not run on the host CPU (mirrors ``bench.registry.ALIASES["gpu"]``).
GPU_RUNTIMES = ("tf-gpu", "litert-gpu", "onnxruntime-cuda", "onnxruntime-tensorrt")
#: Simpler first: fewer things that can differ from the model you trained.
SIMPLICITY = {"fp32": 0, "float16": 1, "dynamic": 2, "int8": 3}
GOALS = ("fastest_cpu", "smallest", "phone")
GOAL_TITLES = {"fastest_cpu": "Fastest on this host's CPU", "smallest": "Smallest file", "phone": "Phone-class device"}

Key = tuple[str, str]  # (artifact, runtime)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` samples right only in one, ``c`` only in the other.

    The discordant pairs are binomial(b + c, 1/2) when both are equally accurate;
    ``p = min(1, 2 * P(X <= min(b, c)))``. ``b = c = 0`` gives 1.0.
    """
    n = int(b) + int(c)
    if n == 0:
        return 1.0
    k = min(int(b), int(c))
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def paired_test(a: np.ndarray, b: np.ndarray, task: str) -> dict[str, Any]:
    """Compare two per-sample outcome vectors of the same test rows.

    Classification: ``a``/``b`` are booleans (sample right); regression: per-sample squared
    errors (a sample counts for the one with the smaller error; equal errors are left out).
    Returns ``{"n", "a_better", "b_better", "p_value"}``.

    Example:
        >>> paired_test(np.array([1, 1, 0, 1], bool), np.array([1, 0, 0, 1], bool), "classification")
        {'n': 4, 'a_better': 1, 'b_better': 0, 'p_value': 1.0}
    """
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired_test: outcome vectors of different lengths ({a.size} vs {b.size}); they must score the same rows")
    if task == "classification":
        a_better, b_better = int(np.sum(a.astype(bool) & ~b.astype(bool))), int(np.sum(b.astype(bool) & ~a.astype(bool)))
    else:
        a_better, b_better = int(np.sum(a < b)), int(np.sum(b < a))
    return {"n": int(a.size), "a_better": a_better, "b_better": b_better, "p_value": mcnemar_exact(a_better, b_better)}


def sample_outcomes(y: np.ndarray, outputs: np.ndarray, task: str) -> np.ndarray:
    """Per-sample outcome of ``outputs`` against targets ``y``: right/wrong, or the squared error."""
    from ..metrics import predicted_classes, true_classes

    if task == "classification":
        return (predicted_classes(outputs) == true_classes(y, outputs)).reshape(len(outputs), -1).all(axis=1)
    out = np.asarray(outputs, np.float64)
    return ((out.reshape(len(out), -1) - np.asarray(y, np.float64).reshape(len(out), -1)) ** 2).mean(axis=1)


def median_se(row: Mapping[str, Any]) -> float:
    """Standard error of a row's p50 over its timed calls; 0 when unknown.

    ``1.2533 * sigma / sqrt(calls)``, with sigma estimated from the tighter side of the
    distribution: ``(p90 - p50) / 1.2816`` or ``p50 - min``. Stalls of a shared machine only
    stretch the slow side (p90 of 14 ms over a p50 of 0.34 ms), so the median is far better
    determined than the standard deviation or the slow tail alone suggest.
    """
    n = row.get("repeats") or 0
    p50, p90, low = row.get("p50_ms"), row.get("p90_ms"), row.get("min_ms")
    if not n or p50 is None or p90 is None:
        return 0.0
    sigma = (float(p90) - float(p50)) / 1.2816
    if low is not None:
        sigma = min(sigma, float(p50) - float(low))
    return 1.2533 * sigma / math.sqrt(n)


def latency_tie(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two rows' p50 latencies are within their spread (see the module docstring)."""
    pa, pb = float(a["p50_ms"]), float(b["p50_ms"])
    spread = 2.0 * math.hypot(median_se(a), median_se(b))
    return abs(pa - pb) <= max(spread, LATENCY_FLOOR * max(pa, pb))


def size_tie(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return abs(int(a["size_bytes"]) - int(b["size_bytes"])) <= SIZE_TIE * max(int(a["size_bytes"]), int(b["size_bytes"]))


def host_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """One row per exported artifact: its fastest host-CPU runtime at the smallest batch and fewest threads."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("format") != "keras" and r.get("runtime") not in GPU_RUNTIMES
          and r.get("p50_ms") is not None and r.get("mode") != "streaming"]
    if not ok:
        return {}
    batch = min(r["batch_size"] for r in ok)
    best: dict[str, dict[str, Any]] = {}
    for r in ok:
        if r["batch_size"] != batch or r["threads"] != min(o["threads"] for o in ok if o["artifact"] == r["artifact"] and o["batch_size"] == batch):
            continue
        if r["artifact"] not in best or r["p50_ms"] < best[r["artifact"]]["p50_ms"]:
            best[r["artifact"]] = dict(r)
    return best


def default_max_drop(task: str, reference_metric: float | None) -> float:
    """One accuracy point, or 5 % of the source RMSE."""
    if task == "classification" or reference_metric is None:
        return DEFAULT_MAX_DROP
    return DEFAULT_RMSE_INCREASE * reference_metric


def _pct(metric: str, value: float) -> str:
    return f"{100 * value:.2f} %" if metric == "accuracy" else f"{value:.4g}"


def _drop_text(metric: str, drop: float) -> str:
    return f"{-100 * drop + 0.0:+.2f} points" if metric == "accuracy" else f"{drop + 0.0:+.4g} RMSE"


def recommend(rows: Sequence[Mapping[str, Any]], outcomes: Mapping[Key, np.ndarray], references: Mapping[str, Mapping[str, Any]],
              task: str, max_drop: float | None = None) -> dict[str, Any]:
    """The ``recommendation`` of a benchmark report.

    Args:
        rows: benchmark rows (``report.results``).
        outcomes: ``{(artifact, runtime): per-sample outcomes}`` (:func:`sample_outcomes`) of the test rows.
        references: ``{artifact: {"label", "metric", "outcomes"}}``: the source model each artifact is judged against.
        task: ``classification`` or ``regression``.
        max_drop: budget as a fraction (accuracy) or in RMSE units; ``None``: :func:`default_max_drop`.

    Returns:
        ``{"budget": {"metric", "max_drop"}, "goals": {goal: G | None}, "note": str}`` (see docs/reports.md).
    """
    metric = "accuracy" if task == "classification" else "rmse"
    ref_metric = next((float(v["metric"]) for v in references.values() if v.get("metric") is not None), None)
    budget = default_max_drop(task, ref_metric) if max_drop is None else float(max_drop)
    result: dict[str, Any] = {"budget": {"metric": metric, "max_drop": budget}, "goals": {g: None for g in GOALS}, "note": ""}
    cands, missing = [], []
    for name, row in host_rows(rows).items():
        ref = references.get(name)
        out = outcomes.get((name, row["runtime"]))
        if ref is None or row.get(metric) is None or out is None:
            missing.append(name)
            continue
        drop = (float(ref["metric"]) - float(row[metric])) if metric == "accuracy" else (float(row[metric]) - float(ref["metric"]))
        test = paired_test(out, ref["outcomes"], task)
        cands.append({**row, "_drop": drop, "_test": test, "_out": out, "_ref": ref["label"]})
    if not cands:
        result["note"] = ("No exported artifact was measured against its source model, so nothing can be recommended"
                          + (f" (no source model for {', '.join(missing)}: add the Keras model to the inputs)" if missing else
                             ": benchmark the .tflite/.onnx artifacts together with the Keras model they came from") + ".")
        return result
    passing = [c for c in cands if c["_drop"] <= budget + 1e-12]
    if not passing:
        best = min(cands, key=lambda c: c["_drop"])
        result["note"] = (f"Nothing passed the budget ({metric} drop <= {_budget_text(metric, budget)}): the closest, {best['artifact']}, "
                          f"is {_drop_text(metric, best['_drop'])} vs the source model on {best['_test']['n']} rows. Try: fp32 artifacts "
                          "(lstm-deploy export --quantize fp32), quantization-aware training (lstm-deploy quantize), less pruning, "
                          "or a larger --max-metric-drop if that loss is acceptable.")
        return result
    better = _significance(task)
    result["goals"]["fastest_cpu"] = _goal(passing, _fastest, "fastest_cpu", metric, task)
    result["goals"]["smallest"] = _goal(passing, _smallest, "smallest", metric, task)
    phone = [c for c in passing if c.get("format") == "tflite" and c.get("quantization") in ("int8", "dynamic")]
    phone_note = ""
    if not phone:
        phone = [c for c in passing if c.get("format") == "tflite"]
        phone_note = " No int8 or dynamic TFLite passed the budget, so this is a float TFLite."
    result["goals"]["phone"] = _goal(phone, _phone(better), "phone", metric, task, phone_note) if phone else None
    failed = sorted(c["artifact"] for c in cands if c not in passing)
    notes = [f"Within the budget: {metric} drop <= {_budget_text(metric, budget)} vs the source model, counted on the same test rows."]
    if failed:
        notes.append(f"Over the budget: {', '.join(failed)}.")
    if result["goals"]["phone"] is None:
        notes.append("No TFLite artifact passed, so there is no phone recommendation: export TFLite (lstm-deploy export --tflite).")
    notes.append("Latency is this host's CPU; a phone's is not measured here (lstm-deploy benchmark --adb SERIAL measures one).")
    if missing:
        notes.append(f"Not judged (no source model to compare with): {', '.join(missing)}.")
    result["note"] = " ".join(notes)
    return result


def _budget_text(metric: str, budget: float) -> str:
    return f"{100 * budget:.2f} points" if metric == "accuracy" else f"{budget:.4g}"


Better = Callable[[dict[str, Any], dict[str, Any]], bool]


def _significance(task: str) -> Better:
    """``better(a, b)``: a is more accurate than b beyond noise (paired test on the same rows)."""
    def better(a: dict[str, Any], b: dict[str, Any]) -> bool:
        t = paired_test(a["_out"], b["_out"], task)
        return t["p_value"] < ALPHA and t["a_better"] > t["b_better"]
    return better


def _simple(c: dict[str, Any]) -> tuple[int, str]:
    return SIMPLICITY.get(str(c.get("quantization")), 9), str(c["artifact"])


def _pick(cands: list[dict[str, Any]], order: Sequence[tuple[Callable[[dict[str, Any], dict[str, Any]], bool], Callable[[dict[str, Any]], Any]]]
          ) -> tuple[dict[str, Any], list[str]]:
    """Narrow ``cands`` goal by goal: keep the best by each key and everything tied with it; return the winner and the tie levels used."""
    pool, tied_on = list(cands), []
    for tie, key in order:
        best = min(pool, key=key)
        kept = [c for c in pool if c is best or tie(c, best)]
        if len(kept) > 1:
            tied_on.append(key.__name__)
        pool = kept
        if len(pool) == 1:
            break
    return min(pool, key=_simple), tied_on


def _by_latency(c: dict[str, Any]) -> float:
    return float(c["p50_ms"])


def _by_size(c: dict[str, Any]) -> int:
    return int(c["size_bytes"])


def _fastest(cands: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    return _pick(cands, [(latency_tie, _by_latency), (size_tie, _by_size)])


def _smallest(cands: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    return _pick(cands, [(size_tie, _by_size), (latency_tie, _by_latency)])


def _phone(better: Better) -> Callable[[list[dict[str, Any]]], tuple[dict[str, Any], list[str]]]:
    def by_accuracy(c: dict[str, Any]) -> float:
        return c["_drop"]

    def acc_tie(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return not better(b, a)  # a stays unless the best is significantly more accurate

    by_accuracy.__name__ = "_by_accuracy"
    return lambda cands: _pick(cands, [(acc_tie, by_accuracy), (size_tie, _by_size)])


def _goal(cands: list[dict[str, Any]], picker: Callable[[list[dict[str, Any]]], tuple[dict[str, Any], list[str]]], goal: str,
          metric: str, task: str, extra: str = "") -> dict[str, Any]:
    c, tied_on = picker(cands)
    t = c["_test"]
    judged = (f"{_pct(metric, c[metric])}, {_drop_text(metric, c['_drop'])} vs the source model on {t['n']} rows "
              f"({t['a_better']} right only here, {t['b_better']} only in the source; McNemar p = {t['p_value']:.2g})")
    words = {"_by_latency": "host latency", "_by_size": "size", "_by_accuracy": "accuracy"}
    if goal == "fastest_cpu":
        why = f"Lowest host p50 ({c['p50_ms']:.3g} ms on {c['runtime']})"
    elif goal == "smallest":
        why = f"Smallest file ({c['size_bytes'] / 1024:.1f} KB)"
    else:
        mode = str(c.get("quantization"))
        why = f"{'An' if mode[:1] in 'aeiou' else 'A'} {mode} TFLite ({c['size_bytes'] / 1024:.1f} KB) for LiteRT on a phone"
    if tied_on:
        why += f"; tie on {' and '.join(words[k] for k in tied_on)} with another candidate, decided by " + _decider(tied_on, goal)
    why += f"; {judged}.{extra}"
    return {"artifact": c["artifact"], "format": c.get("format"), "mode": c.get("quantization"), "metric": float(c[metric]),
            "metric_drop": float(c["_drop"]), "n_rows": int(t["n"]), "p50_ms": c.get("p50_ms"), "p99_ms": c.get("p99_ms"),
            "size_bytes": int(c["size_bytes"]), "why": why, "tie": bool(tied_on), "runtime": c["runtime"]}


def _decider(tied_on: list[str], goal: str) -> str:
    second = {"fastest_cpu": "size", "smallest": "host latency", "phone": "size"}[goal]
    return second if len(tied_on) == 1 else "runtime simplicity (fp32 < float16 < dynamic < int8)"


def mark_supported_pareto(rows: list[dict[str, Any]], outcomes: Mapping[Key, np.ndarray], task: str) -> None:
    """Set ``pareto`` (the ★) only where the numbers support it.

    A row is dominated when another row at the same batch size is not slower (beyond
    :func:`latency_tie`) and not less accurate (paired test on the same samples), and is
    better on one of the two beyond noise. Rows not measured get ``None``.
    """
    ok = [r for r in rows if r.get("status") == "ok" and r.get("p50_ms") is not None]
    for r in rows:
        r["pareto"] = None

    def out(r: dict[str, Any]) -> np.ndarray | None:
        return outcomes.get((r["artifact"], r["runtime"]))

    def cmp_quality(a: dict[str, Any], b: dict[str, Any]) -> int:
        oa, ob = out(a), out(b)
        if oa is None or ob is None:
            return 0 if (oa is None) == (ob is None) else (1 if ob is None else -1)
        t = paired_test(oa, ob, task)
        if t["p_value"] >= ALPHA or t["a_better"] == t["b_better"]:
            return 0
        return 1 if t["a_better"] > t["b_better"] else -1

    for r in ok:
        dominated = False
        for o in ok:
            if o is r or o.get("batch_size") != r.get("batch_size"):
                continue
            faster = 0 if latency_tie(o, r) else (1 if o["p50_ms"] < r["p50_ms"] else -1)
            q = cmp_quality(o, r)
            if faster >= 0 and q >= 0 and (faster > 0 or q > 0):
                dominated = True
                break
        r["pareto"] = not dominated


def render_markdown(rec: Mapping[str, Any] | None) -> list[str]:
    """The recommendation as Markdown lines (the first section of every report)."""
    if not rec:
        return []
    b = rec["budget"]
    lines = ["## What to ship", "",
             f"Budget: {b['metric']} may drop at most {_budget_text(b['metric'], b['max_drop'])} from the source model. "
             "Latency is p50 / p99 of one call on this host's CPU (not a phone).", "",
             "| goal | artifact | mode | " + ("accuracy" if b["metric"] == "accuracy" else "RMSE") + " (vs source) | host p50 / p99 ms | size KB | why |",
             "|---|---|---|---|---|---:|---|"]
    if all(rec["goals"].get(g) is None for g in GOALS):
        return lines[:4] + [f"**No recommendation.** {rec.get('note', '')}", ""]
    for goal in GOALS:
        g = rec["goals"].get(goal)
        if g is None:
            lines.append(f"| {GOAL_TITLES[goal]} | none passed | - | - | - | - | - |")
            continue
        lat = "-" if g.get("p50_ms") is None else f"{g['p50_ms']:.3g} / {g['p99_ms']:.3g}"
        lines.append(f"| {GOAL_TITLES[goal]}{' (tie)' if g['tie'] else ''} | **{g['artifact']}** | {g['mode']} | "
                     f"{_pct(b['metric'], g['metric'])} ({_drop_text(b['metric'], g['metric_drop'])}, {g['n_rows']} rows) | {lat} | "
                     f"{g['size_bytes'] / 1024:.1f} | {g['why'].replace('|', '/')} |")
    lines += ["", rec.get("note", ""), "", "1 KB = 1024 bytes. How to read this: docs/reports.md.", ""]
    return lines


def render_text(rec: Mapping[str, Any] | None) -> list[str]:
    """The recommendation as plain terminal lines (the last lines a command prints)."""
    if not rec:
        return []
    b = rec["budget"]
    lines = [f"What to ship ({b['metric']} drop <= {_budget_text(b['metric'], b['max_drop'])}; latency on this host's CPU):"]
    if all(rec["goals"].get(g) is None for g in GOALS):
        return lines + ["  " + rec.get("note", "")]
    for goal in GOALS:
        g = rec["goals"].get(goal)
        if g is None:
            lines.append(f"  {GOAL_TITLES[goal]}: none passed")
            continue
        lat = "" if g.get("p50_ms") is None else f", p50 {g['p50_ms']:.3g} ms / p99 {g['p99_ms']:.3g} ms (host)"
        lines.append(f"  {GOAL_TITLES[goal]}{' (tie)' if g['tie'] else ''}: {g['artifact']} -- {_pct(b['metric'], g['metric'])} "
                     f"({_drop_text(b['metric'], g['metric_drop'])} on {g['n_rows']} rows){lat}, {g['size_bytes'] / 1024:.1f} KB")
    return lines
