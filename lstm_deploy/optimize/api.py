"""``optimize_model``: the fastest or smallest deployable artifact of a model within an accuracy budget.

1. Load the model, read what ``inspect`` says applies, build the search space.
2. Export the original at fp32 (the baseline) and score it on the validation split.
3. Search (Optuna, locally or on Ray): every trial compresses, exports, scores on the
   validation split and measures its artifact (:mod:`lstm_deploy.optimize.trial`).
4. The best feasible trials (finalists) and the baselines are benchmarked together in one
   run on ``x_test`` -- the only time the search touches the test set; the winner is the
   finalist with the best objective whose test drop is within the budget.
5. Write ``report.json`` / ``.md`` / ``.html``, the winning artifact with its manifest, the
   winner's Keras model and ``recipe.yaml`` (see :mod:`lstm_deploy.optimize.report`).

Example:
    >>> res = optimize_model("model.keras", "data.npz", "opt", OptimizeConfig(objective="latency"))  # doctest: +SKIP
    >>> res.report["best"]["latency_ms"], res.report["best"]["speedup"]                            # doctest: +SKIP
    (0.081, 7.3)
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import metrics
from ..atomic import atomic_write_bytes
from ..errors import InputError
from ..load.dataset import Dataset, load_for_model, rows, sequence_length
from ..paths import record_since
from .config import OptimizeConfig
from .executors import make_executor
from .run import _Run
from .search import Budget, finished_outcomes, objective_value, open_study, run_search
from .space import SearchSpace
from .storage import prepare_storage
from .trial import RUNTIMES, TrialOutcome, TrialSetup, search_view

BASELINE_FORMAT = {"latency": "onnx", "size": "tflite"}
#: What a search may write in OUTDIR (see :mod:`lstm_deploy.optimize.report`): the command refuses to start when one of
#: these is a file lstm-deploy did not write (:class:`lstm_deploy.paths.Outputs`), and each run records what it wrote.
OUTPUT_FILES = ("report.json", "report.md", "report.html", "recipe.yaml", "model.keras", "model.*.onnx", "model.*.tflite",
                "model.*.onnx.json", "model.*.tflite.json", "pareto_latency.png", "pareto_size.png", "data.npz",
                "baseline/**/*", "trials/**/*")


@dataclass
class OptimizeResult:
    """What the search wrote: ``report`` is ``report.json``'s content; ``paths`` the files by role."""

    out_dir: Path
    report: dict[str, Any]
    paths: dict[str, Path]

    @property
    def partial(self) -> bool:
        return bool(self.report["partial"])


def study_name(config: OptimizeConfig, model_sha: str, dataset: Dataset) -> str:
    """A name that changes whenever the model, the data or a setting that shapes trials changes."""
    if config.study_name:
        return config.study_name
    shaping = config.model_dump(mode="json", exclude={"trials", "time_budget", "storage", "study_name", "ray_address", "finalists"})
    digest = hashlib.sha256(model_sha.encode() + json.dumps(shaping, sort_keys=True).encode())
    for arr in (dataset.x_train, dataset.y_train):
        digest.update(np.ascontiguousarray(arr).tobytes())
    return f"lstm-deploy-optimize-{digest.hexdigest()[:12]}"


def _prepare(model_path: str | Path, data: str | Path | Dataset, out_dir: str | Path, config: OptimizeConfig, say: Callable[[str], None]) -> _Run:
    from ..compress import fit
    from ..load.modelio import load_model
    from ..load.summary import inspect_model

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: is an existing file; pass a folder")
    say("loading model and data")
    loaded = load_model(model_path)
    base = loaded.tf_keras_model()
    dataset = data if isinstance(data, Dataset) else load_for_model(data, base)
    if rows(dataset.x_train) < 2:
        raise InputError(f"{dataset.source}: x_train has {rows(dataset.x_train)} sample(s); the search needs a training part and a validation split")
    info = inspect_model(base, seq_len=sequence_length(dataset.x_train))
    space = SearchSpace.for_model(info, config)
    view = search_view(dataset, config)
    reference = {"val_metric": fit.evaluate(base, view), "test_metric": fit.evaluate(base, dataset)}
    out.mkdir(parents=True, exist_ok=True)
    return _Run(config, out, loaded, dataset, None if isinstance(data, Dataset) else Path(data), space, reference, info.params)


def _baselines(run: _Run, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The original model exported at fp32 in every searched format (parity checked on the validation split)."""
    from ..export import ExportConfig, export_model

    formats = tuple(dict.fromkeys(fmt for fmt, _ in run.config.artifact_choices()))
    say(f"exporting the original model at fp32 ({', '.join(formats)}): the baseline")
    results = export_model(run.loaded.tf_keras_model(), run.out / "baseline", ExportConfig(formats=formats, batch_size=run.config.batch_size),
                           data=search_view(run.dataset, run.config), name="model")
    return [{"kind": "baseline", "path": r.artifact, "format": r.format, "quantization": r.quantization, "threads": 1,
             "val_metric": run.reference["val_metric"]} for r in results]


def _model_bytes(loaded: Any) -> bytes:
    from ..load.modelio import save_model

    with tempfile.TemporaryDirectory(prefix="lstm-deploy-opt-") as tmp:
        return save_model(loaded.tf_keras_model(), Path(tmp) / "model.keras", flavour="tf_keras").read_bytes()


def _writer(out: Path) -> Callable[[TrialOutcome], None]:
    def write(outcome: TrialOutcome) -> None:
        folder = out / "trials" / f"{outcome.number:04d}"
        for name, data in outcome.files.items():
            atomic_write_bytes(folder / name, data)
    return write


def _finalists(run: _Run, outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The best feasible trials by their validation objective whose files are on disk."""
    cfg = run.config
    feasible = [o for o in outcomes if o["status"] == "ok" and o["val_drop"] is not None and o["val_drop"] <= cfg.max_metric_drop + 1e-9]
    feasible.sort(key=lambda o: objective_value(o, cfg.objective))  # type: ignore[arg-type, return-value]
    picked = []
    for o in feasible:
        path = run.out / "trials" / f"{o['number']:04d}" / str(o["artifact"])
        if path.is_file():
            picked.append({"kind": "finalist", "path": path, "format": o["candidate"]["format"], "quantization": o["candidate"]["quantization"],
                           "threads": o["candidate"]["threads"], "val_metric": o["val_metric"], "trial": o["number"], "outcome": o})
        if len(picked) == cfg.finalists:
            break
    return picked


def _final_benchmark(run: _Run, entries: list[dict[str, Any]], say: Callable[[str], None]) -> None:
    """Benchmark baselines and finalists in one run on ``x_test``; fill each entry's test metric, latency and sizes."""
    from ..bench import BenchConfig, benchmark

    cfg, task = run.config, run.dataset.task
    runtimes = tuple(dict.fromkeys(RUNTIMES[e["format"]] for e in entries))
    threads = tuple(sorted({1, *(e["threads"] for e in entries)}))
    say(f"benchmarking {len(entries)} artifacts on x_test (baselines and finalists, one run)")
    report = benchmark([e["path"] for e in entries], run.dataset, BenchConfig(runtimes=runtimes, threads=threads, batch_sizes=(cfg.batch_size,),
                                                                             include_keras=False))
    names = {Path(a["path"]).resolve(): a["name"] for a in report.artifacts}
    name = metrics.primary_metric(task)
    for e in entries:
        rows = [r for r in report.results if r["artifact"] == names[Path(e["path"]).resolve()] and r["runtime"] == RUNTIMES[e["format"]]
                and r.get("threads") == e["threads"] and r.get("batch_size") == cfg.batch_size]
        row = rows[0] if rows else {"status": "missing", "reason": "no benchmark row"}
        e["bench_status"] = row["status"] if row["status"] == "ok" else f"{row['status']}: {row.get('reason')}"
        e["metric"] = row.get(name)
        e["metric_drop"] = None if e["metric"] is None else metrics.metric_drop(run.reference["test_metric"], e["metric"], task)
        e["latency_ms"], e["size_bytes"], e["gzip_bytes"] = row.get("p50_ms"), row.get("size_bytes"), row.get("gzip_bytes")
        e["p90_ms"] = row.get("p90_ms")


def _winner(run: _Run, baselines: list[dict[str, Any]], finalists: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(baseline, winner, notes): the best finalist within the budget on x_test, else the baseline itself."""
    cfg = run.config
    fmt = BASELINE_FORMAT[cfg.objective] if cfg.format == "any" else cfg.format
    baseline = next(b for b in baselines if b["format"] == fmt)
    ok = [f for f in finalists if f["bench_status"] == "ok" and f["metric_drop"] is not None and f["metric_drop"] <= cfg.max_metric_drop + 1e-9]
    for f in finalists:
        f["within_budget"] = f in ok
    notes = []
    if ok:
        return baseline, min(ok, key=lambda f: objective_value(f, cfg.objective)), notes  # type: ignore[arg-type, return-value]
    why = "no trial was within the budget on the validation split" if not finalists else "no finalist kept the budget on x_test"
    notes.append(f"{why}: the winner is the original model's fp32 export (nothing smaller or faster held the accuracy)")
    return baseline, {**baseline, "within_budget": True}, notes


def optimize_model(model_path: str | Path, data: str | Path | Dataset, out_dir: str | Path, config: OptimizeConfig | None = None,
                   *, progress: Callable[[str], None] | None = None) -> OptimizeResult:
    """Search compressions x quantizations x formats for the best deployable artifact within ``max_metric_drop``.

    Args:
        model_path: a Keras model file (.keras/.h5) or tf_keras SavedModel; never modified.
        data: ``.npz`` path or :class:`~lstm_deploy.load.dataset.Dataset`: train (fine-tuning), a
            validation split (``x_val`` or held out of train: every trial is judged there) and ``x_test``
            (the finalists only).
        out_dir: output folder (see :mod:`lstm_deploy.optimize.report` for what goes in it).
        config: :class:`OptimizeConfig`.
        progress: receives one line per step and per finished trial.

    Returns an :class:`OptimizeResult`; ``result.partial`` is True when Ctrl-C stopped the search
    (the best artifact found so far is still written).

    Raises:
        InputError: bad model, data, options, storage or Ray address.
    """
    from .report import write_outputs

    cfg = config or OptimizeConfig()
    say = progress or (lambda _msg: None)
    start, started_ns = time.monotonic(), time.time_ns() - 10**9  # a second of slack for coarse file-system clocks
    end = time.time() + cfg.time_budget * 60.0 if cfg.time_budget is not None else None
    run = _prepare(model_path, data, out_dir, cfg, say)
    name = study_name(cfg, run.loaded.sha256, run.dataset)
    prepare_storage(cfg.storage)  # only a new file or a study database lstm-deploy made (the command checked it before loading anything)
    study = open_study(cfg, name)  # a bad --storage or --ray-address fails before any work
    setup = TrialSetup(_model_bytes(run.loaded), search_view(run.dataset, cfg), cfg, run.reference["val_metric"], run.space.qat)
    executor = make_executor(setup, cfg.ray_address)
    try:
        baselines = _baselines(run, say)
    except BaseException:
        executor.close()
        raise
    say(f"search: {cfg.trials} trials planned ({len(finished_outcomes(study))} already in study '{name}'), on {executor.where}"
        + (f", {cfg.time_budget:g} min budget" if cfg.time_budget else ""))
    try:
        budget = Budget(end, len(baselines) + cfg.finalists)
        state = run_search(study, run.space, executor, cfg, budget, run.dataset.task, say, _writer(run.out))
    finally:
        executor.close()
    outcomes = finished_outcomes(study)
    finalists = _finalists(run, outcomes)
    _final_benchmark(run, baselines + finalists, say)
    baseline, best, notes = _winner(run, baselines, finalists)
    search = {"study_name": name, "storage": cfg.storage, "executor": executor.where, "trials_planned": cfg.trials,
              "trials_finished": len(outcomes), "trials_run_now": state.ran, "interrupted": state.interrupted,
              "stopped_for_time": state.stopped_for_time, "seconds": round(time.monotonic() - start, 1)}
    report, paths = write_outputs(run, baselines, baseline, best, finalists, outcomes, search, notes)
    record_since(run.out, OUTPUT_FILES, started_ns)  # lstm-deploy's files now: a later run (library or command) may replace them
    return OptimizeResult(run.out, report, paths)
