"""Run benchmark jobs one after the other, each in its own worker process.

A :class:`Job` is one (artifact, runtime) -- per thread count as well for runtimes whose
thread pools are fixed at start-up. Workers run :mod:`lstm_deploy.bench.worker` and never
in parallel: parallel workers would time each other.

Example:
    >>> results, preds = run_jobs(jobs, inputs_npz, work_dir, config, progress=True)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .artifacts import Artifact

if TYPE_CHECKING:
    from .config import BenchConfig

REFERENCE_RUNTIMES = ("keras-function", "keras-eager")


@dataclass
class Job:
    artifact: Artifact
    runtime: str
    threads: list[int]
    batch_sizes: list[int]
    predict: bool
    reference_only: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.artifact.name, self.runtime


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    return env


def _run_one(job: Job, inputs_npz: Path, work: Path, config: BenchConfig, index: int) -> dict[str, Any]:
    job_file, result_file = work / f"job{index}.json", work / f"result{index}.json"
    pred_file = work / f"pred{index}.npy"
    job_file.write_text(json.dumps({
        "artifact": str(job.artifact.path), "runtime": job.runtime, "batch_sizes": job.batch_sizes,
        "threads": job.threads, "warmup": config.warmup, "repeats": config.repeats, "min_seconds": config.min_seconds,
        "max_seconds": config.max_seconds,
        "inputs": str(inputs_npz), "predictions_out": str(pred_file) if job.predict else None,
    }), encoding="utf-8")
    try:
        proc = subprocess.run([sys.executable, "-m", "lstm_deploy.bench.worker", str(job_file), str(result_file)],
                              capture_output=True, text=True, timeout=config.timeout_s, env=_worker_env(), check=False)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"worker timed out after {config.timeout_s:.0f} s", "rows": []}
    if proc.returncode != 0 or not result_file.exists():
        tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"status": "error", "reason": f"worker exited with code {proc.returncode}: {tail[-1] if tail else 'no output'}", "rows": []}
    result = json.loads(result_file.read_text(encoding="utf-8"))
    if result["status"] != "ok":
        detail = next((ln.strip() for ln in proc.stderr.splitlines() if "ERROR" in ln and ln.strip() not in result["reason"]), None)
        if detail:
            result["reason"] += f" [{detail}]"
    if job.predict and pred_file.exists():
        result["predictions"] = np.load(pred_file)
    return result


def run_jobs(jobs: list[Job], inputs_npz: Path, work: Path, config: BenchConfig, progress: bool | Callable[[str], None]
              ) -> tuple[dict[int, dict[str, Any]], dict[tuple[str, str], np.ndarray]]:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    results: dict[int, dict[str, Any]] = {}
    preds: dict[tuple[str, str], np.ndarray] = {}
    columns = (TextColumn("[bold]benchmark[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    say = progress if callable(progress) else None
    with Progress(*columns, console=Console(stderr=True), disable=progress is not True, transient=False) as bar:
        task = bar.add_task("", total=len(jobs))
        for i, job in enumerate(jobs):
            what = "reference outputs" if job.reference_only else f"threads {','.join(map(str, job.threads))}"
            line = f"{job.artifact.name} on {job.runtime} ({what})"
            bar.update(task, description=escape(line))
            if say is not None:
                say(f"benchmark {i + 1}/{len(jobs)}: {line}")
            res = _run_one(job, inputs_npz, work, config, i)
            results[id(job)] = res
            if "predictions" in res:
                preds[job.key] = res.pop("predictions")
            bar.advance(task)
    return results, preds


