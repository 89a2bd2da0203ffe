"""Measure ONE (artifact, runtime) in this process, for every batch size and thread count.

The parent (:mod:`lstm_deploy.bench.api`) starts one worker process per
(artifact, runtime) -- per thread count as well for runtimes whose thread pools are
fixed at start-up -- so peak memory and imported libraries of one runtime never
pollute another's numbers. Input: a job JSON file naming an inputs ``.npz`` (``x_time`` and
``x_eval``, or ``x_time__<input name>`` / ``x_eval__<input name>`` for a model with several
inputs); output: a result JSON file.

Method (identical for every runtime): import the runtime library (timed apart),
load the artifact (timed), first inference (timed), then per batch size ``warmup``
untimed calls and at least ``repeats`` timed calls spread over at least
``min_seconds`` (stopping early after ``max_seconds`` once 5 calls are timed; see
:func:`_time_calls`). One call = state reset + the batch of independent sequences in
+ outputs out. Streaming (``--streaming``) artifacts are timed the same way over whole sequences
stepped through (state zeroed per sequence), and additionally per step: ``step_p50_ms`` /
``step_p99_ms`` over single ``step()`` calls.

Example:
    python -m lstm_deploy.bench.worker job.json result.json
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..load.dataset import X, take
from ..runtime import fixed_batches
from .registry import Runtime, RuntimeUnavailable, get_runtime
from .stats import summarize


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``: ``getrusage``'s ``ru_maxrss``
    survives ``execve``, so a worker started by a big parent (a pytest or notebook process
    holding TensorFlow) would report the parent's peak. Elsewhere ``ru_maxrss`` is used.
    """
    status = Path("/proc/self/status")
    if status.exists():  # Linux
        for line in status.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20


def predict_all(rt: Runtime, x: X, batch: int = 256) -> np.ndarray:
    """Outputs for every sequence in ``x`` (an array or ``{input name: array}``), run as independent sequences in chunks."""
    return np.concatenate([rt.run(chunk) for chunk, _ in fixed_batches(x, None, chunk=batch)])


def read_inputs(path: str | Path) -> tuple[X, X]:
    """``(x_time, x_eval)`` from an inputs ``.npz``: arrays, or ``{input name: array}`` from ``x_time__<name>`` members."""
    with np.load(path) as data:
        if "x_time" in data.files:
            return data["x_time"], data["x_eval"]
        split = {key: {k.split("__", 1)[1]: data[k] for k in data.files if k.startswith(f"{key}__")} for key in ("x_time", "x_eval")}
    return split["x_time"], split["x_eval"]


def write_inputs(path: str | Path, x_time: X, x_eval: X) -> None:
    """The inputs ``.npz`` :func:`read_inputs` reads (per-input members for ``{input name: array}``)."""
    if not isinstance(x_time, dict):
        np.savez(path, x_time=x_time, x_eval=x_eval)
        return
    np.savez(path, **{f"x_time__{k}": v for k, v in x_time.items()}, **{f"x_eval__{k}": v for k, v in x_eval.items()})


def _time_calls(rt: Runtime | _Steps, x: X, warmup: int, repeats: int, min_seconds: float, max_seconds: float) -> list[float]:
    """Per-call wall times after ``warmup`` untimed calls (warm-up also stops after ``max_seconds``).

    Timing continues past ``repeats`` until ``min_seconds`` have passed (at most
    ``max(repeats, 10000)`` calls), so sub-millisecond configurations are sampled over a
    window long enough to average out scheduler noise; it stops early after
    ``max_seconds`` once 5 calls are timed, so slow baselines do not dominate a run.
    """
    start = time.perf_counter()
    for _ in range(warmup):
        rt.run(x)
        if time.perf_counter() - start > max_seconds:
            break
    times: list[float] = []
    cap = max(repeats, 10_000)
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        rt.run(x)
        t1 = time.perf_counter()
        times.append(t1 - t0)
        elapsed, n = t1 - start, len(times)
        if (n >= repeats and elapsed >= min_seconds) or n >= cap:
            break
        if elapsed > max_seconds and n >= min(5, repeats):
            break
    return times


class _Steps:
    """Times one time step per "call" of a streaming artifact (see :meth:`Runtime.step_caller`)."""

    def __init__(self, step: Callable[[], Any]) -> None:
        self.step = step

    def run(self, _x: np.ndarray) -> None:
        self.step()


def _step_fields(rt: Runtime, x: X, budget: tuple[int, int, float, float]) -> dict[str, Any]:
    """Streaming artifacts: per-step latency (one ``step()`` of the batch) next to the whole-sequence numbers."""
    step = rt.step_caller(x)
    if step is None:
        return {}
    stats = summarize(_time_calls(_Steps(step), x, *budget), len(x))
    return {"mode": "streaming", "steps": int(x.shape[1]), "step_p50_ms": stats.p50_ms, "step_p99_ms": stats.p99_ms}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job (see module docstring) and return the result dict."""
    result: dict[str, Any] = {"status": "ok", "reason": "", "rows": [], "baseline_rss_mb": peak_rss_mb()}
    cls = get_runtime(job["runtime"])
    x_time, x_eval = read_inputs(job["inputs"])
    batch_sizes: list[int] = list(job["batch_sizes"])
    try:
        t0 = time.perf_counter()
        cls.import_runtime(int(job["threads"][0]))
        result["import_ms"] = (time.perf_counter() - t0) * 1000
        result["runtime_rss_mb"] = peak_rss_mb()
        for i, threads in enumerate(job["threads"]):
            rt = cls()
            t0 = time.perf_counter()
            rt.load(job["artifact"], threads)
            load_ms = (time.perf_counter() - t0) * 1000
            first_x = take(x_time, slice(None, batch_sizes[0])) if batch_sizes else take(x_eval, slice(None, 1))
            t0 = time.perf_counter()
            rt.run(first_x)
            first_ms = (time.perf_counter() - t0) * 1000
            if i == 0 and job.get("predictions_out"):
                np.save(job["predictions_out"], predict_all(rt, x_eval, int(job.get("eval_batch", 256))))
            for batch in batch_sizes:
                x = take(x_time, slice(None, batch))
                mode = rt.batching(batch)
                budget = (int(job["warmup"]), int(job["repeats"]), float(job["min_seconds"]), float(job["max_seconds"]))
                times = _time_calls(rt, x, *budget)
                row = {"batch_size": batch, "threads": threads, "batching": mode, "load_ms": load_ms,
                       "first_inference_ms": first_ms, "repeats": len(times), "state": rt.state_handling(), "mode": "sequence"}
                row.update(summarize(times, batch).as_dict())
                row.pop("n")
                row.update(_step_fields(rt, x, budget))
                result["rows"].append(row)
            rt.close()
    except RuntimeUnavailable as exc:
        result.update(status="unavailable", reason=str(exc))
    except Exception as exc:  # any runtime failure becomes an "error" row with its message, never a crash of the run
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        result.update(status="error", reason=f"{exc.__class__.__name__}: {message[:300]}")
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m lstm_deploy.bench.worker JOB.json RESULT.json", file=sys.stderr)
        return 2
    from .. import _tf

    _tf.quiet()
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = measure(job)
    Path(argv[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
