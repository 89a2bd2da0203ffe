"""After the search: confirm candidates on rows that played no part in choosing them, and pick the winner.

Round 1 benchmarks, in one run on the **confirmation rows** (:mod:`lstm_deploy.compress.holdout`):
the original's fp32 exports (the baselines), every plain-export trial (the original in each
post-training mode: never worse than ``export``) and the first ``finalists`` candidates. The
candidates are the trials within the budget on the selection rows, Pareto-optimal ones first
(selection metric vs objective), each group by objective. When no candidate of a round keeps
the budget on the confirmation rows, the next ones are confirmed in another round -- with the
baselines and the best so far measured again beside them -- while one of them could still win
and time is left. The winner is the entry with the best objective that keeps the budget on the
confirmation rows, baselines and plain exports included.

Example:
    >>> res = confirm(run, baselines, outcomes, end, say)     # doctest: +SKIP
    >>> res.best["role"], res.rounds                          # doctest: +SKIP
    ('candidate', 1)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .. import metrics
from .search import objective_value, pareto
from .space import Candidate
from .trial import RUNTIMES

if TYPE_CHECKING:
    from .run import _Run

#: Most confirmation rounds (each benchmarks up to ``finalists`` new candidates).
MAX_ROUNDS = 5
EPS = 1e-9


@dataclass
class Confirmation:
    """What the confirmation found: ``best`` (the winner), ``baseline``, ``plain_best`` and every entry measured."""

    baseline: dict[str, Any]
    best: dict[str, Any]
    plain_best: dict[str, Any] | None
    entries: list[dict[str, Any]]
    rounds: int = 0
    notes: list[str] = field(default_factory=list)
    stopped_for_time: bool = False

    def record(self) -> dict[str, Any]:
        """For report.json: how many candidates were confirmed, which failed and why."""
        tried = [e for e in self.entries if e["role"] != "baseline"]
        failed = [{"trial": e.get("trial"), "role": e["role"], "what": describe(e), "why": e.get("why")} for e in tried if not e.get("within_budget")]
        return {"rounds": self.rounds, "candidates_confirmed": len(tried), "kept_budget": sum(1 for e in tried if e.get("within_budget")),
                "failed": failed, "stopped_for_time": self.stopped_for_time}


def describe(e: dict[str, Any]) -> str:
    """A short human description of an entry."""
    if "outcome" in e:
        cand = Candidate(**e["outcome"]["candidate"])
        text = cand.label() + (" + QAT" if e["outcome"].get("qat") else "")
        return f"original, {text}" if cand.plain else text
    return f"original, {e['format']} {e['quantization']}"


def _entry(run: "_Run", o: dict[str, Any]) -> dict[str, Any] | None:
    path = run.out / "trials" / f"{o['number']:04d}" / str(o["artifact"])
    if not path.is_file():
        return None
    cand = Candidate(**o["candidate"])
    return {"role": "plain" if cand.plain else "candidate", "kind": "finalist", "path": path, "format": cand.format, "quantization": cand.quantization,
            "threads": cand.threads, "val_metric": o["val_metric"], "val_drop": o["val_drop"], "trial": o["number"], "outcome": o}


def ranked(run: "_Run", outcomes: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(plain exports, candidates): every finished plain trial; trials within budget on the selection rows, Pareto ones first."""
    cfg, task = run.config, run.dataset.task
    ok = [o for o in outcomes if o["status"] == "ok" and o.get("artifact")]
    plain = [e for e in (_entry(run, o) for o in ok if Candidate(**o["candidate"]).plain) if e]
    feasible = [o for o in ok if not Candidate(**o["candidate"]).plain and o["val_drop"] is not None and o["val_drop"] <= cfg.max_metric_drop + EPS]
    front = set(pareto(feasible, cfg.objective, task))
    feasible.sort(key=lambda o: (o["number"] not in front, objective_value(o, cfg.objective)))
    return plain, [e for e in (_entry(run, o) for o in feasible) if e]


def _benchmark(run: "_Run", entries: list[dict[str, Any]], say: Callable[[str], None]) -> None:
    """Benchmark ``entries`` in one run on the confirmation rows; fill each entry's confirmation metric, latency and sizes."""
    from ..bench import BenchConfig, benchmark

    cfg, task, rows_ = run.config, run.dataset.task, run.holdout
    runtimes = tuple(dict.fromkeys(RUNTIMES[e["format"]] for e in entries))
    threads = tuple(sorted({1, *(e["threads"] for e in entries)}))
    say(f"confirming {len(entries)} artifacts on the {rows_.n_confirm} confirmation rows (one benchmark run)")
    report = benchmark([e["path"] for e in entries], rows_.confirm_dataset(run.dataset),
                       BenchConfig(runtimes=runtimes, threads=threads, batch_sizes=(cfg.batch_size,), include_keras=False))
    names = {Path(a["path"]).resolve(): a["name"] for a in report.artifacts}
    name = metrics.primary_metric(task)
    ref = run.reference
    for e in entries:
        found = [r for r in report.results if r["artifact"] == names[Path(e["path"]).resolve()] and r["runtime"] == RUNTIMES[e["format"]]
                 and r.get("threads") == e["threads"] and r.get("batch_size") == cfg.batch_size]
        row = found[0] if found else {"status": "missing", "reason": "no benchmark row"}
        e["bench_status"] = row["status"] if row["status"] == "ok" else f"{row['status']}: {row.get('reason')}"
        e["metric"] = row.get(name)
        e["metric_drop"] = None if e["metric"] is None else metrics.metric_drop(ref["confirm_metric"], e["metric"], task)
        e["n_confirm"] = rows_.n_confirm
        for k in ("p50_ms", "p90_ms", "p99_ms", "size_bytes", "gzip_bytes"):
            e[k] = row.get(k)
        e["latency_ms"] = row.get("p50_ms")
        e["within_budget"] = e["bench_status"] == "ok" and e["metric_drop"] is not None and e["metric_drop"] <= cfg.max_metric_drop + EPS
        if e["bench_status"] != "ok":
            e["why"] = f"benchmark: {e['bench_status']}"
        elif not e["within_budget"]:
            e["why"] = (f"lost {metrics.format_drop(name, e['metric_drop'])} on the confirmation rows (budget "
                        f"{metrics.format_drop(name, cfg.max_metric_drop)}), {metrics.format_drop(name, e['val_drop'] or 0.0)} on the selection rows")
        else:
            e["why"] = None


def _score_all_rows(run: "_Run", entries: list[dict[str, Any]], say: Callable[[str], None]) -> None:
    """``test_metric`` / ``test_drop`` of ``entries`` on all of ``x_test``, by ``lstm-deploy benchmark``'s own method.

    Scored apart (not combined from the two halves): ONNX Runtime's dynamic int8 kernels give
    slightly different outputs for different batch compositions, so only the same method gives
    the number a user's ``benchmark`` run reproduces.
    """
    from ..bench import BenchConfig, benchmark

    cfg, task = run.config, run.dataset.task
    say(f"scoring the winner, the best plain export and the baseline on all {len(run.dataset.y_test)} rows of x_test")
    report = benchmark([e["path"] for e in entries], run.dataset, BenchConfig(runtimes=tuple(dict.fromkeys(RUNTIMES[e["format"]] for e in entries)),
                                                                            threads=(1,), batch_sizes=(cfg.batch_size,), include_keras=False,
                                                                            repeats=3, warmup=1))
    names = {Path(a["path"]).resolve(): a["name"] for a in report.artifacts}
    name = metrics.primary_metric(task)
    for e in entries:
        found = [r for r in report.results if r["artifact"] == names[Path(e["path"]).resolve()] and r["status"] == "ok" and r.get(name) is not None]
        e["test_metric"] = found[0][name] if found else None
        e["test_drop"] = None if e["test_metric"] is None else metrics.metric_drop(run.reference["test_metric"], e["test_metric"], task)


def _best(entries: list[dict[str, Any]], objective: str) -> dict[str, Any] | None:
    ok = [e for e in entries if e.get("within_budget") and objective_value(e, objective) is not None]
    # equal objective: the simpler route first (baseline, then plain export, then a compressed candidate)
    order = {"baseline": 0, "plain": 1, "candidate": 2}
    return min(ok, key=lambda e: (objective_value(e, objective), order[e["role"]]), default=None)  # type: ignore[arg-type, return-value]


def confirm(run: "_Run", baselines: list[dict[str, Any]], outcomes: list[dict[str, Any]], end: float | None,
            say: Callable[[str], None]) -> Confirmation:
    """Confirm rounds of candidates (see the module docstring) and pick the winner."""
    cfg = run.config
    fmt = {"latency": "onnx", "size": "tflite"}[cfg.objective] if cfg.format == "any" else cfg.format
    baseline = next(b for b in baselines if b["format"] == fmt)
    for b in baselines:
        b.update(role="baseline", val_drop=0.0)
    plain, queue = ranked(run, outcomes)
    measured: list[dict[str, Any]] = []
    carried = list(plain)
    res = Confirmation(baseline, baseline, None, measured)
    while True:
        batch, queue = queue[:cfg.finalists], queue[cfg.finalists:]
        entries = list(dict.fromkeys(map(id, baselines + carried + batch)))
        by_id = {id(e): e for e in baselines + carried + batch}
        started = time.time()
        _benchmark(run, [by_id[i] for i in entries], say)
        res.rounds += 1
        for e in batch + (plain if res.rounds == 1 else []):
            measured.append(e)
        this_round = [by_id[i] for i in entries]
        best = _best(this_round, cfg.objective) or baseline
        res.best = best
        plains = [e for e in this_round if e["role"] == "plain"]
        res.plain_best = _best(plains, cfg.objective) or (min(plains, key=lambda e: e.get("metric_drop") or 1e9) if plains else None)
        if any(e.get("within_budget") for e in batch) or not queue or res.rounds >= MAX_ROUNDS:
            break
        target = objective_value(best, cfg.objective) if best["role"] == "baseline" else objective_value(best["outcome"], cfg.objective)
        if target is not None and objective_value(queue[0]["outcome"], cfg.objective) >= target:  # type: ignore[operator]
            break  # nothing left could beat what already kept the budget
        if end is not None and time.time() + (time.time() - started) > end:
            res.stopped_for_time = True
            res.notes.append("the time budget ended the confirmation rounds; more candidates were left to confirm")
            break
        carried = [e for e in (best if best["role"] != "baseline" else None, res.plain_best) if e is not None]
        say(f"no candidate of round {res.rounds} kept the budget on the confirmation rows: confirming the next {min(len(queue), cfg.finalists)}")
    _score_all_rows(run, list({id(e): e for e in (baseline, res.best, res.plain_best) if e is not None}.values()), say)
    if res.best is baseline:
        why = "no trial was within the budget on the selection rows" if not measured else "no candidate or plain export kept the budget on the confirmation rows"
        res.notes.append(f"{why}: the winner is the original model's fp32 export")
    return res
