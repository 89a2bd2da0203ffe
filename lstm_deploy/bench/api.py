"""``benchmark(inputs, dataset, config) -> BenchReport``: the one entry point.

Every (artifact, runtime) is measured in its own worker process
(:mod:`lstm_deploy.bench.worker`) on the same seeded inputs, one after the other
(never in parallel: parallel workers would time each other). Runtimes that cannot
run here become ``unavailable`` rows with the reason; failures become ``error`` rows.
Models with several inputs (captioners) take ``x_test__<input name>`` arrays; every input's
timing and evaluation rows are the same samples.

Example:
    >>> from lstm_deploy.bench import BenchConfig, benchmark, write_report
    >>> report = benchmark(["model.keras", "exported/"], "data.npz",
    ...                    BenchConfig(runtimes=("tflite", "onnxruntime"), batch_sizes=(1, 32)))  # doctest: +SKIP
    >>> write_report(report, "bench_out")                                                        # doctest: +SKIP
    >>> min(report.ok_rows(), key=lambda r: r["p50_ms"])["runtime"]                              # doctest: +SKIP
    'onnxruntime'
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..errors import DataError, InputError
from ..load.dataset import Dataset, load_data, take
from ..load.dataset import rows as n_rows
from .. import metrics
from ..metrics import agreement, task_metrics
from ..report.bench import HOST_NOTE, BenchReport
from ..report.recommend import mark_supported_pareto, recommend, sample_outcomes
from .artifacts import Artifact, discover
from .config import BenchConfig
from .jobs import REFERENCE_RUNTIMES, Job, run_jobs
from .machine import describe_machine
from .registry import expand_runtimes, get_runtime
from .worker import write_inputs


def benchmark(inputs: Iterable[str | Path], dataset: Dataset | str | Path, config: BenchConfig | None = None,
              *, progress: bool | Callable[[str], None] = False) -> BenchReport:
    """Measure every artifact on every requested runtime that can run it.

    Args:
        inputs: Keras models (.keras/.h5/SavedModel dir), .tflite/.onnx artifacts, directories of them.
        dataset: a :class:`~lstm_deploy.load.dataset.Dataset` or the path of its ``.npz``; ``x_test``
            (``x_test__<input name>`` arrays for a model with several inputs) supplies the timing
            inputs and the task metric.
        config: :class:`BenchConfig`.
        progress: ``True`` shows a rich progress bar on stderr; a callable receives one
            line per worker instead (for pipelines with their own log).

    Raises:
        InputError: unknown runtime, missing/unknown input file, data that does not fit an artifact.
    """
    config = config or BenchConfig()
    names = expand_runtimes(list(config.runtimes))
    artifacts = discover(inputs)
    ds = dataset if isinstance(dataset, Dataset) else load_data(dataset, test_only=True)  # only x_test/y_test drive it
    _check_shapes(artifacts, ds)
    x_eval, y_eval = take(ds.x_test, slice(None, config.eval_samples)), ds.y_test[: config.eval_samples]
    rng = np.random.default_rng(config.seed)
    n_time, n_test = max(config.batch_sizes), n_rows(ds.x_test)
    x_time = take(ds.x_test, rng.choice(n_test, size=n_time, replace=n_time > n_test))  # the same rows of every input
    runtimes = [{"name": n, "formats": list(get_runtime(n).formats), "available": ok, "reason": why, "description": get_runtime(n).description}
                for n in names for ok, why in [get_runtime(n).available()]]
    rows, jobs = _plan_jobs(artifacts, runtimes, config)
    sources = {a.name: _source_of(a, [k for k in artifacts if k.format == "keras"]) for a in artifacts if not a.skip_reason}
    _add_reference_jobs(jobs, sources)
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

    arm64_env = None
    if "arm64" in config.arch:  # set up (or find) before the long host run, not after
        from .arm64 import prepare

        arm64_env = prepare(config)

    with tempfile.TemporaryDirectory(prefix="lstm-deploy-bench-") as work:
        inputs_npz = Path(work) / "inputs.npz"
        write_inputs(inputs_npz, x_time, x_eval)
        results, preds = run_jobs(jobs, inputs_npz, Path(work), config, progress)
    notes = [HOST_NOTE]
    rows += _measured_rows(jobs, results, preds, _references(sources, preds), y_eval, ds.task, notes)
    order = {n: i for i, n in enumerate(names)}
    arts = {a.name: i for i, a in enumerate(artifacts)}
    rows.sort(key=lambda r: (arts[r["artifact"]], order[r["runtime"]], r.get("threads") or 0, r.get("batch_size") or 0))
    outcomes = _outcomes(preds, y_eval, ds.task)
    mark_supported_pareto(rows, outcomes, ds.task)
    refs = {name: {"label": label, "metric": metrics.score(y_eval, out, ds.task), "outcomes": outcomes[key]}
            for name, (label, key, out) in _references(sources, preds).items() if key in outcomes}
    report = BenchReport(
        results=rows, artifacts=[a.as_dict() for a in artifacts], runtimes=runtimes, machine=describe_machine(),
        settings={**config.model_dump(mode="json", exclude={"stage"}), "runtimes": names, "eval_samples": n_rows(x_eval), "data": ds.source,
                  "method": "one call = state reset + batch in + outputs out; warm-up untimed; p50/p90/p99 over timed calls"},
        task=ds.task, notes=notes, recommendation=recommend(rows, outcomes, refs, ds.task, config.max_metric_drop),
    )
    if arm64_env is not None:
        from rich.console import Console

        from .arm64 import arm64_section

        say = progress if callable(progress) else (Console(stderr=True).print if progress else None)
        report.arm64 = arm64_section(arm64_env, artifacts, x_eval, y_eval, ds.task, _references(sources, preds), config, say)
    if config.adb_serial:
        from .adb import run_on_device

        report.adb = run_on_device(config.adb_serial, tflites, list(config.threads), config.warmup, config.repeats, config.adb_binary)
    return report


def _outcomes(preds: dict[tuple[str, str], np.ndarray], y_eval: np.ndarray, task: str) -> dict[tuple[str, str], np.ndarray]:
    """Per-sample outcomes (right/wrong, or squared error) of every run on the evaluation rows, for the paired tests."""
    found = {}
    for key, out in preds.items():
        try:
            found[key] = sample_outcomes(y_eval, out, task)
        except ValueError:  # outputs that do not fit the labels: no metric, so no paired test either
            continue
    return found


def _plan_jobs(artifacts: list[Artifact], runtimes: list[dict[str, Any]], config: BenchConfig) -> tuple[list[dict[str, Any]], list[Job]]:
    """Worker jobs for every (artifact, runtime) that can run, and rows for those that cannot."""
    rows: list[dict[str, Any]] = []
    jobs: list[Job] = []
    for art in artifacts:
        for rt in runtimes:
            cls = get_runtime(rt["name"])
            if art.format not in cls.formats:
                continue
            if art.skip_reason:
                rows.append(_base_row(art, rt["name"]) | {"status": "skipped", "reason": art.skip_reason})
            elif not rt["available"]:
                rows.append(_base_row(art, rt["name"]) | {"status": "unavailable", "reason": rt["reason"]})
            elif cls.process_per_threads:
                jobs += [Job(art, rt["name"], [t], list(config.batch_sizes), i == 0) for i, t in enumerate(config.threads)]
            else:
                jobs.append(Job(art, rt["name"], list(config.threads), list(config.batch_sizes), True))
    return rows, jobs


def _add_reference_jobs(jobs: list[Job], sources: dict[str, tuple[Artifact | None, str]]) -> None:
    """Make sure the source Keras model of every artifact is run once, for the agreement columns."""
    predicted = {job.key for job in jobs if job.predict}
    for source, _ in sources.values():
        if source is not None and not any((source.name, rt) in predicted for rt in REFERENCE_RUNTIMES):
            jobs.append(Job(source, "keras-function", [1], [], True, reference_only=True))
            predicted.add(jobs[-1].key)


def _measured_rows(jobs: list[Job], results: dict[int, dict[str, Any]], preds: dict[tuple[str, str], np.ndarray],
                   references: dict[str, tuple[str, tuple[str, str], np.ndarray]], y_eval: np.ndarray, task: str,
                   notes: list[str]) -> list[dict[str, Any]]:
    """Report rows from the workers' results: timings, task metrics and agreement with the source model."""
    rows: list[dict[str, Any]] = []
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
            quality = {"eval_samples": len(y_eval), **task_metrics(y_eval, preds[job.key], task)}
            ref = references.get(job.artifact.name)
            if ref is not None and ref[1] != job.key:
                quality |= {"reference": ref[0], **agreement(preds[job.key], ref[2], task)}
        for measured in res["rows"]:
            rows.append(_base_row(job.artifact, job.runtime) | measured | quality | {
                "status": "ok", "import_ms": res.get("import_ms"), "baseline_rss_mb": res["baseline_rss_mb"],
                "runtime_rss_mb": res.get("runtime_rss_mb"), "peak_rss_mb": res["peak_rss_mb"]})
    return rows


def _check_shapes(artifacts: Sequence[Artifact], ds: Dataset) -> None:
    """Refuse data that does not fit an artifact, naming the array and the artifact (per input for several inputs)."""
    for art in artifacts:
        if art.input_shape is None or art.skip_reason:
            continue
        if isinstance(ds.x_test, dict) or art.input_names:
            _check_inputs(art, ds)
            continue
        sample = tuple(ds.x_test.shape[1:])
        want = art.input_shape[1:]
        if art.manifest and art.manifest.get("streaming"):  # one time step: checked against x_test's step shape
            entry = next((i for i in art.manifest.get("inputs") or [] if i.get("name") == art.manifest.get("input_name")), None)
            want = (sample[0], *entry["shape"][1:]) if entry else (sample[0], *want)
        if not _fits(want, sample):
            raise DataError(f"{ds.source}: x_test has sample shape {sample}; artifact {art.path} expects {_shown(want)}")


def _check_inputs(art: Artifact, ds: Dataset) -> None:
    """A model with several inputs: one ``x_test__<name>`` array per input of ``art``, each of the input's sample shape."""
    names = art.input_names or []
    if not isinstance(ds.x_test, dict) or not names:
        have = f"per-input arrays {', '.join(f'x_test__{n}' for n in ds.x_test)}" if isinstance(ds.x_test, dict) else "one x_test array"
        want = f"inputs {', '.join(names)}: save {', '.join(f'x_test__{n}' for n in names)}" if names else "one input: save x_test"
        if art.manifest and art.manifest.get("streaming"):
            want = "one input per time step (streaming artifacts of models with several inputs do not exist)"
        raise DataError(f"{ds.source}: holds {have}; artifact {art.path} takes {want}")
    if sorted(ds.x_test) != sorted(names):
        raise DataError(f"{ds.source}: holds x_test__{', x_test__'.join(ds.x_test)}; artifact {art.path} takes inputs "
                        f"{', '.join(names)} (save {', '.join(f'x_test__{n}' for n in names)})")
    for name in names:
        sample, want = tuple(ds.x_test[name].shape[1:]), (art.input_shapes or {}).get(name)
        if want is not None and not _fits(want[1:], sample):
            raise DataError(f"{ds.source}: x_test__{name} has sample shape {sample}; artifact {art.path} input '{name}' expects {_shown(want[1:])}")


def _fits(want: Sequence[int | None], sample: Sequence[int]) -> bool:
    return len(want) == len(sample) and all(w is None or w == s for w, s in zip(want, sample))


def _shown(want: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if w is None else str(w) for w in want) + ")"


def _base_row(art: Artifact, runtime: str) -> dict[str, Any]:
    return {"artifact": art.name, "format": art.format, "quantization": art.quantization, "runtime": runtime,
            "size_bytes": art.size_bytes, "gzip_bytes": art.gzip_bytes}


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
        for rt in REFERENCE_RUNTIMES:
            if (source.name, rt) in preds:
                refs[name] = (f"{source.name} ({rt}{note})", (source.name, rt), preds[(source.name, rt)])
                break
    return refs
