"""``benchmark(inputs, dataset, config) -> BenchReport``: the one entry point.

Every (artifact, runtime) is measured in its own worker process
(:mod:`lstm_deploy.bench.worker`) on the same seeded inputs, one after the other
(never in parallel: parallel workers would time each other). Runtimes that cannot
run here become ``unavailable`` rows with the reason; failures become ``error`` rows.

Example:
    >>> from lstm_deploy.bench import BenchConfig, benchmark, write_report
    >>> report = benchmark(["model.keras", "exported/"], "data.npz",
    ...                    BenchConfig(runtimes=("tflite", "onnxruntime"), batch_sizes=(1, 32)))  # doctest: +SKIP
    >>> write_report(report, "bench_out")                                                        # doctest: +SKIP
    >>> min(report.ok_rows(), key=lambda r: r["p50_ms"])["runtime"]                              # doctest: +SKIP
    'onnxruntime'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..atomic import atomic_write_text
from ..load.dataset import Dataset, load_data
from ..errors import DataError, InputError
from .artifacts import Artifact, discover
from .machine import describe_machine
from .metrics import agreement, task_metrics
from .registry import expand_runtimes, get_runtime
from ..report.bench import HOST_NOTE, BenchReport, mark_pareto


@dataclass(frozen=True)
class BenchConfig:
    """How to measure. Defaults keep a 6-artifact report under 2 minutes on 2 cores.

    Attributes:
        runtimes: registered names or groups (``all``, ``keras``, ``gpu``, ...).
        batch_sizes: sequences per call; each is timed separately.
        threads: CPU thread counts to pin (intra-op threads / LiteRT ``num_threads``).
        warmup: untimed calls before timing, per configuration.
        repeats: timed calls per configuration, at least (fewer only when ``max_seconds`` runs
            out, never fewer than 5; more when they take under ``min_seconds``).
        min_seconds: fast configurations keep being timed until this much time has passed.
        max_seconds: time budget for the warm-up and for the timed calls of one configuration.
        seed: selects the timing sequences from ``x_test`` (same for every runtime).
        eval_samples: cap on ``x_test`` samples for the task metric (None = all).
        timeout_s: a worker running longer becomes an ``error`` row.
        adb_serial: also run LiteRT's benchmark_model on this Android device.
        adb_binary: local benchmark_model binary to push (else it must be on the device).
    """

    runtimes: tuple[str, ...] = ("all",)
    batch_sizes: tuple[int, ...] = (1,)
    threads: tuple[int, ...] = (1,)
    warmup: int = 10
    repeats: int = 100
    min_seconds: float = 0.5
    max_seconds: float = 2.0
    seed: int = 0
    eval_samples: int | None = None
    timeout_s: float = 600.0
    adb_serial: str | None = None
    adb_binary: str | None = None

    def __post_init__(self) -> None:
        for name in ("batch_sizes", "threads"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
                raise InputError(f"--{name.replace('_', '-')}: expected positive integers, got {list(values)}")
        if self.warmup < 0:
            raise InputError(f"--warmup: expected an integer >= 0, got {self.warmup}")
        if self.repeats < 1:
            raise InputError(f"--repeats: expected an integer >= 1, got {self.repeats}")
        if self.eval_samples is not None and self.eval_samples < 1:
            raise InputError(f"eval_samples: expected a positive integer or None, got {self.eval_samples}")
        if self.max_seconds <= 0 or self.timeout_s <= 0 or not 0 <= self.min_seconds <= self.max_seconds:
            raise InputError(f"timing budget: expected 0 <= min_seconds <= max_seconds and timeout_s > 0, got "
                             f"min_seconds={self.min_seconds}, max_seconds={self.max_seconds}, timeout_s={self.timeout_s}")


_REFERENCE_RUNTIMES = ("keras-function", "keras-eager")


@dataclass
class _Job:
    artifact: Artifact
    runtime: str
    threads: list[int]
    batch_sizes: list[int]
    predict: bool
    reference_only: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.artifact.name, self.runtime


def benchmark(inputs: Iterable[str | Path], dataset: Dataset | str | Path, config: BenchConfig = BenchConfig(),
              *, progress: bool | Callable[[str], None] = False) -> BenchReport:
    """Measure every artifact on every requested runtime that can run it.

    Args:
        inputs: Keras models (.keras/.h5/SavedModel dir), .tflite/.onnx artifacts, directories of them.
        dataset: a :class:`~lstm_deploy.data.Dataset` or the path of its ``.npz``; ``x_test``
            supplies the timing inputs and the task metric.
        config: :class:`BenchConfig`.
        progress: ``True`` shows a rich progress bar on stderr; a callable receives one
            line per worker instead (for pipelines with their own log).

    Raises:
        InputError: unknown runtime, missing/unknown input file, data that does not fit an artifact.
    """
    names = expand_runtimes(list(config.runtimes))
    artifacts = discover(inputs)
    ds = dataset if isinstance(dataset, Dataset) else load_data(dataset)
    _check_shapes(artifacts, ds)
    x_eval, y_eval = ds.x_test[: config.eval_samples], ds.y_test[: config.eval_samples]
    rng = np.random.default_rng(config.seed)
    n_time = max(config.batch_sizes)
    x_time = ds.x_test[rng.choice(len(ds.x_test), size=n_time, replace=n_time > len(ds.x_test))]

    runtimes, available = [], {}
    for name in names:
        cls = get_runtime(name)
        ok, reason = cls.available()
        available[name] = (ok, reason)
        runtimes.append({"name": name, "formats": list(cls.formats), "available": ok, "reason": reason,
                         "description": cls.description})

    rows: list[dict[str, Any]] = []
    jobs: list[_Job] = []
    for art in artifacts:
        for name in names:
            cls = get_runtime(name)
            if art.format not in cls.formats:
                continue
            if art.skip_reason:
                rows.append(_base_row(art, name) | {"status": "skipped", "reason": art.skip_reason})
            elif not available[name][0]:
                rows.append(_base_row(art, name) | {"status": "unavailable", "reason": available[name][1]})
            elif cls.process_per_threads:
                jobs += [_Job(art, name, [t], list(config.batch_sizes), i == 0) for i, t in enumerate(config.threads)]
            else:
                jobs.append(_Job(art, name, list(config.threads), list(config.batch_sizes), True))

    sources = {a.name: _source_of(a, [k for k in artifacts if k.format == "keras"]) for a in artifacts if not a.skip_reason}
    predicted = {job.key for job in jobs if job.predict}
    for source, _ in sources.values():
        if source is not None and not any((source.name, rt) in predicted for rt in _REFERENCE_RUNTIMES):
            jobs.append(_Job(source, "keras-function", [1], [], True, reference_only=True))
            predicted.add(jobs[-1].key)
    if not rows and not any(not j.reference_only for j in jobs):
        formats = sorted({f for n in names for f in get_runtime(n).formats})
        raise InputError(f"--runtimes {','.join(names)}: these run {', '.join(formats)} files, but the inputs are "
                         f"{', '.join(sorted({a.format for a in artifacts}))}; add matching inputs or runtimes")
    tflites = [a.path for a in artifacts if a.format == "tflite"]
    if config.adb_serial:  # fail before the long host run, not after
        from .adb import check_device

        if not tflites:
            raise InputError("--adb: no .tflite artifact among the inputs; the device benchmark runs LiteRT models")
        check_device(config.adb_serial)

    with tempfile.TemporaryDirectory(prefix="lstm-deploy-bench-") as work:
        inputs_npz = Path(work) / "inputs.npz"
        np.savez(inputs_npz, x_time=x_time, x_eval=x_eval)
        results, preds = _run_jobs(jobs, inputs_npz, Path(work), config, progress)
    references = _references(sources, preds)

    notes = [HOST_NOTE]
    for job in jobs:
        res = results[id(job)]
        if job.reference_only:
            if res["status"] != "ok":
                notes.append(f"Reference model {job.artifact.path} could not be run ({res['reason']}); agreement is missing.")
            continue
        if res["status"] != "ok":
            rows.append(_base_row(job.artifact, job.runtime) | {"status": res["status"], "reason": res["reason"]})
            continue
        quality: dict[str, Any] = {}
        if job.key in preds:
            quality = {"eval_samples": len(x_eval), **task_metrics(y_eval, preds[job.key], ds.task)}
            ref = references.get(job.artifact.name)
            if ref is not None and ref[1] != job.key:
                quality |= {"reference": ref[0], **agreement(preds[job.key], ref[2], ds.task)}
        for measured in res["rows"]:
            rows.append(_base_row(job.artifact, job.runtime) | measured | quality | {
                "status": "ok", "import_ms": res.get("import_ms"), "baseline_rss_mb": res["baseline_rss_mb"],
                "runtime_rss_mb": res.get("runtime_rss_mb"), "peak_rss_mb": res["peak_rss_mb"]})
    order = {n: i for i, n in enumerate(names)}
    arts = {a.name: i for i, a in enumerate(artifacts)}
    rows.sort(key=lambda r: (arts[r["artifact"]], order[r["runtime"]], r.get("threads") or 0, r.get("batch_size") or 0))
    mark_pareto(rows)
    report = BenchReport(
        results=rows, artifacts=[a.as_dict() for a in artifacts], runtimes=runtimes, machine=describe_machine(),
        settings={**asdict(config), "runtimes": names, "eval_samples": len(x_eval), "data": ds.source,
                  "method": "one call = state reset + batch in + outputs out; warm-up untimed; p50/p90/p99 over timed calls"},
        task=ds.task, notes=notes,
    )
    if config.adb_serial:
        from .adb import run_on_device

        report.adb = run_on_device(config.adb_serial, tflites, list(config.threads), config.warmup, config.repeats, config.adb_binary)
    return report


def _check_shapes(artifacts: Sequence[Artifact], ds: Dataset) -> None:
    sample = tuple(ds.x_test.shape[1:])
    for art in artifacts:
        if art.input_shape is None or art.skip_reason:
            continue
        want = art.input_shape[1:]
        if len(want) != len(sample) or any(w is not None and w != s for w, s in zip(want, sample)):
            shown = "(" + ", ".join("None" if w is None else str(w) for w in want) + ")"
            raise DataError(f"{ds.source}: x_test has sample shape {sample}; artifact {art.path} expects {shown}")


def _base_row(art: Artifact, runtime: str) -> dict[str, Any]:
    return {"artifact": art.name, "format": art.format, "quantization": art.quantization, "runtime": runtime,
            "size_bytes": art.size_bytes, "gzip_bytes": art.gzip_bytes}


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    return env


def _run_one(job: _Job, inputs_npz: Path, work: Path, config: BenchConfig, index: int) -> dict[str, Any]:
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


def _run_jobs(jobs: list[_Job], inputs_npz: Path, work: Path, config: BenchConfig, progress: bool | Callable[[str], None]
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


def _source_of(art: Artifact, keras_inputs: list[Artifact]) -> tuple[Artifact | None, str]:
    """The Keras model an artifact was exported from, and how we know (manifest or assumption)."""
    if art.format == "keras":
        return art, ""
    for k in keras_inputs:
        if art.source_sha256 and k.sha256 == art.source_sha256:
            return k, ""
    if art.source_path:
        src = Path(art.source_path)
        for k in keras_inputs:
            if src.exists() and k.path == src.resolve():
                return k, ""
        return (discover([src])[0], "") if src.is_file() else (None, "")
    if len(keras_inputs) == 1 and art.manifest is None:
        return keras_inputs[0], "; assumed: no manifest, only Keras input"
    return None, ""


def _references(sources: dict[str, tuple[Artifact | None, str]], preds: dict[tuple[str, str], np.ndarray]
                ) -> dict[str, tuple[str, tuple[str, str], np.ndarray]]:
    """Map artifact name -> (label, (model name, runtime), outputs on x_eval) of its source Keras model."""
    refs: dict[str, tuple[str, tuple[str, str], np.ndarray]] = {}
    for name, (source, note) in sources.items():
        if source is None:
            continue
        for rt in _REFERENCE_RUNTIMES:
            if (source.name, rt) in preds:
                refs[name] = (f"{source.name} ({rt}{note})", (source.name, rt), preds[(source.name, rt)])
                break
    return refs


def check_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path; raises InputError when it exists and is not a directory."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a directory; choose a folder for the reports")
    return out


def write_report(report: BenchReport, out_dir: str | Path) -> dict[str, Path]:
    """Write report.json, report.csv, report.md, the plots and report.html into ``out_dir``.

    Example:
        >>> paths = write_report(report, "bench_out")        # doctest: +SKIP
        >>> sorted(paths)                                    # doctest: +SKIP
        ['csv', 'html', 'json', 'latency_by_runtime', 'latency_vs_metric', 'md', 'size_by_artifact']
    """
    from ..report.html import write_html
    from ..report.plots import write_plots

    out = check_out_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, out)
    paths = {p.stem: p for p in plots}
    paths["json"] = atomic_write_text(out / "report.json", report.to_json() + "\n")
    paths["csv"] = atomic_write_text(out / "report.csv", report.to_csv())
    paths["md"] = atomic_write_text(out / "report.md", report.to_markdown([p.name for p in plots]))
    paths["html"] = write_html(report, out / "report.html", plots)
    return paths
