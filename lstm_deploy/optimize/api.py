"""``optimize_model``: the fastest or smallest deployable artifact of a model within an accuracy budget.

1. Load the model, read what ``inspect`` says applies, build the search space; choose the
   selection and confirmation rows (:mod:`lstm_deploy.compress.holdout`: never training rows).
2. Export the original at fp32 (the baseline) and score it on the selection rows.
3. Search (Optuna, locally or on Ray): the known-good routes first (every plain export, half
   and a quarter of the units with each fast mode), then the sampler; every trial compresses,
   exports, scores on the selection rows and measures its artifact
   (:mod:`lstm_deploy.optimize.trial`); no configuration runs twice.
4. Confirmation (:mod:`lstm_deploy.optimize.confirm`): baselines, plain exports and the best
   candidates are benchmarked together on the confirmation rows, in rounds until a candidate
   keeps the budget there; the winner is the entry with the best objective that does.
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

from ..atomic import atomic_write_bytes
from ..errors import InputError
from ..load.dataset import Dataset, load_for_model, rows, sequence_length
from ..paths import record_since
from .config import OptimizeConfig
from .executors import make_executor
from .run import _Run
from .search import Budget, finished_outcomes, open_study, run_search
from .space import SearchSpace
from .storage import prepare_storage
from .trial import TrialOutcome, TrialSetup

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
    from ..compress import fit, holdout
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
    rows_ = holdout.choose(dataset, config.seed)
    select = fit.evaluate(base, dataset, rows_.x_select, rows_.y_select)
    reference = {"val_metric": select, "select_metric": select, "confirm_metric": fit.evaluate(base, dataset, rows_.x_confirm, rows_.y_confirm),
                 "test_metric": fit.evaluate(base, dataset)}
    out.mkdir(parents=True, exist_ok=True)
    return _Run(config, out, loaded, dataset, None if isinstance(data, Dataset) else Path(data), space, reference, info.params, rows_)


def _baselines(run: _Run, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The original model exported at fp32 in every searched format (parity checked on the validation split)."""
    from ..export import ExportConfig, export_model

    formats = tuple(dict.fromkeys(fmt for fmt, _ in run.config.artifact_choices()))
    say(f"exporting the original model at fp32 ({', '.join(formats)}): the baseline")
    results = export_model(run.loaded.tf_keras_model(), run.out / "baseline", ExportConfig(formats=formats, batch_size=run.config.batch_size),
                           data=run.holdout.search_dataset(run.dataset), name="model")
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


def optimize_model(model_path: str | Path, data: str | Path | Dataset, out_dir: str | Path, config: OptimizeConfig | None = None,
                   *, progress: Callable[[str], None] | None = None) -> OptimizeResult:
    """Search compressions x quantizations x formats for the best deployable artifact within ``max_metric_drop``.

    Args:
        model_path: a Keras model file (.keras/.h5) or tf_keras SavedModel; never modified.
        data: ``.npz`` path or :class:`~lstm_deploy.load.dataset.Dataset`: train (fine-tuning), the
            selection rows (``x_val``, else half of ``x_test``: every trial is judged there) and the
            confirmation rows (all of ``x_test``, else its other half: the finalists only).
        out_dir: output folder (see :mod:`lstm_deploy.optimize.report` for what goes in it).
        config: :class:`OptimizeConfig`.
        progress: receives one line per step and per finished trial.

    Returns an :class:`OptimizeResult`; ``result.partial`` is True when Ctrl-C stopped the search
    (the best artifact found so far is still written).

    Raises:
        InputError: bad model, data, options, storage or Ray address.
    """
    from .confirm import confirm
    from .report import write_outputs

    cfg = config or OptimizeConfig()
    say = progress or (lambda _msg: None)
    start, started_ns = time.monotonic(), time.time_ns() - 10**9  # a second of slack for coarse file-system clocks
    end = time.time() + cfg.time_budget * 60.0 if cfg.time_budget is not None else None
    run = _prepare(model_path, data, out_dir, cfg, say)
    name = study_name(cfg, run.loaded.sha256, run.dataset)
    prepare_storage(cfg.storage)  # only a new file or a study database lstm-deploy made (the command checked it before loading anything)
    study = open_study(cfg, name)  # a bad --storage or --ray-address fails before any work
    setup = TrialSetup(_model_bytes(run.loaded), run.holdout.search_dataset(run.dataset), cfg, run.reference["select_metric"], run.space.qat)
    say(f"rows: {run.holdout.summary()}")
    resolution = run.holdout.resolution_note(run.dataset.task, cfg.max_metric_drop)
    if resolution:
        say(f"note: {resolution}")
    executor = make_executor(setup, cfg.ray_address)
    try:
        baselines = _baselines(run, say)
    except BaseException:
        executor.close()
        raise
    planned = f"at most {cfg.trials} trials" if cfg.trials else "trials until the time budget"
    say(f"search: {planned} ({len(run.space.known_routes())} known-good routes first; {len(finished_outcomes(study))} already in study '{name}'), "
        f"on {executor.where}" + (f", {cfg.time_budget:g} min budget" if cfg.time_budget else ""))
    try:
        budget = Budget(end, len(baselines) + len(run.space.artifacts) + cfg.finalists + 3)  # + the all-rows scoring
        state = run_search(study, run.space, executor, cfg, budget, run.dataset.task, say, _writer(run.out))
    finally:
        executor.close()
    outcomes = finished_outcomes(study)
    result = confirm(run, baselines, outcomes, end, say)
    notes = ([resolution] if resolution else []) + result.notes
    search = {"study_name": name, "storage": cfg.storage, "executor": executor.where, "trials_planned": cfg.trials,
              "trials_finished": len(outcomes), "trials_run_now": state.ran, "repeats_not_run": state.repeats, "exhausted": state.exhausted,
              "interrupted": state.interrupted, "stopped_for_time": state.stopped_for_time, "seconds": round(time.monotonic() - start, 1)}
    report, paths = write_outputs(run, baselines, result, outcomes, search, notes)
    record_since(run.out, OUTPUT_FILES, started_ns)  # lstm-deploy's files now: a later run (library or command) may replace them
    return OptimizeResult(run.out, report, paths)
