"""Run a recipe end to end: data -> model -> prune -> quantize -> export -> caption -> benchmark -> report.

Each step writes under ``OUTDIR/<step>/`` and records a ``stage.json`` with a
*fingerprint*: a hash of its settings and of everything upstream (input files by
content). A re-run skips steps whose fingerprint is unchanged and whose outputs are
still there; ``force=True`` reruns everything. The executed recipe is written to
``OUTDIR/recipe.yaml``.

lstm-deploy deletes or overwrites only what it created: the output folder and each step
folder carry a :data:`MARKER` file written when lstm-deploy made them. An existing,
non-empty output folder without it (``-o .``, a recipe ``name`` pointing at your own
folder) or a step folder without it is refused before any work, and so are inputs that
lie inside the output folder. A step that fails or is interrupted removes its own
folder, so nothing half-written is left looking valid.

Example:
    >>> result = run_recipe(load_recipe("recipes/quickstart.yaml"), "runs/quickstart")  # doctest: +SKIP
    >>> result.report_md                                                                # doctest: +SKIP
    PosixPath('runs/quickstart/report.md')
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from .. import __version__, metrics
from ..atomic import atomic_write_text
from ..errors import InputError, UnsupportedLayerError
from ..load.dataset import Dataset, load_data, load_for_model, rows, sequence_length
from ..load.sources import PreparedData
from ..load.modelio import file_sha256
from ..paths import check_output_dir
from .data import FILE_SOURCES, prepare_data, resolve
from .recipe import AeonClassificationData, AeonSeriesData, NpzData, Recipe
from .stages import STAGES, Progress, StageContext, StepRecord


@dataclass
class RunResult:
    out_dir: Path
    steps: list[StepRecord]
    report_md: Path | None = None
    report_html: Path | None = None


#: Written into every folder lstm-deploy run creates (the output folder and each step folder).
MARKER = ".lstm-deploy"


def _owned(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def _mark(folder: Path, what: str) -> None:
    atomic_write_text(folder / MARKER, json.dumps({"created_by": "lstm-deploy", "version": __version__, "folder": what}) + "\n")


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_inputs(recipe: Recipe, recipe_dir: Path) -> None:
    """Fail before any work when a file the recipe names does not exist."""
    data = recipe.data
    if isinstance(data, FILE_SOURCES) and not resolve(recipe_dir, data.path).is_file():
        raise InputError(f"data.path: {resolve(recipe_dir, data.path)} does not exist")
    if recipe.model.path is not None and not resolve(recipe_dir, recipe.model.path).exists():
        raise InputError(f"model.path: {resolve(recipe_dir, recipe.model.path)} does not exist")
    if isinstance(data, (AeonClassificationData, AeonSeriesData)):
        from ..load.sources import _aeon_data_dir

        _aeon_data_dir()


def _step_names(recipe: Recipe) -> list[str]:
    return ["data", "model" if recipe.model.path is not None else "train"] + [s.stage for s in recipe.stages]


def check_outputs(recipe: Recipe, out_dir: str | Path, recipe_dir: Path) -> Path:
    """Fail before any work when ``out_dir`` (or a step folder in it) is not lstm-deploy's to replace, or holds an input.

    Example:
        >>> check_outputs(load_recipe("r.yaml"), ".", Path("."))     # doctest: +SKIP
        Traceback (most recent call last):
        ...
        lstm_deploy.errors.InputError: -o .: the folder exists, is not empty and was not made by lstm-deploy run ...
    """
    out = check_output_dir(out_dir, "-o")
    inputs = {"data.path": getattr(recipe.data, "path", None), "model.path": recipe.model.path}
    for key, value in inputs.items():
        if value is not None and _within(resolve(recipe_dir, value), out):
            raise InputError(f"{key}: {resolve(recipe_dir, value)} is inside the output folder {out}, where lstm-deploy replaces files; "
                             "move it out or choose another -o")
    if out.is_dir() and any(out.iterdir()) and not _owned(out):
        raise InputError(f"-o {out}: the folder exists, is not empty and was not made by lstm-deploy run (no {MARKER} file); "
                         "lstm-deploy only replaces folders it created -- choose a new or empty folder")
    for name in _step_names(recipe):
        if (out / name).exists() and not _owned(out / name):
            raise InputError(f"-o {out}: {out / name} was not made by lstm-deploy run (no {MARKER} file) and would be replaced; "
                             "move it away or choose another -o")
    return out


def _within(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def plan(recipe: Recipe) -> list[str]:
    """Human-readable steps the recipe will run (``--dry-run``)."""
    lines = [f"data: {recipe.data.kind} " + json.dumps(recipe.data.model_dump(exclude={'kind'}, exclude_none=True))]
    if recipe.model.path:
        lines.append(f"model: load {recipe.model.path}")
    else:
        t = recipe.model.train
        assert t is not None  # guaranteed by ModelSpec validation
        lines.append(f"model: train {t.architecture.type} units={t.architecture.units} for up to {t.epochs} epochs")
    for stage in recipe.stages:
        opts = stage.model_dump(exclude={"stage"}, exclude_none=True)
        lines.append(f"{stage.stage}: " + ", ".join(f"{k}={v}" for k, v in opts.items()))
    return lines


class _Runner:
    def __init__(self, recipe: Recipe, out_dir: Path, recipe_dir: Path, force: bool, small: bool, progress: Progress, unsafe: bool = False):
        self.recipe, self.out, self.recipe_dir = recipe, out_dir, recipe_dir
        self.force, self.small, self.say, self.unsafe = force, small, progress, unsafe
        self.steps: list[StepRecord] = []
        self.upstream = _hash(__version__, small)
        self.data_path: Path | None = None
        self.labels: list[str] | None = None
        self.preprocessing: dict[str, Any] = {}
        self.model_path: Path | None = None

    # -- bookkeeping ------------------------------------------------------------------

    def step(self, name: str, settings: Any, work: Callable[[Path], tuple[dict[str, str], dict[str, Any]]]) -> StepRecord:
        directory = self.out / name
        fingerprint = _hash(self.upstream, name, settings)
        record_file = directory / "stage.json"
        if not self.force and record_file.exists():
            try:
                old = json.loads(record_file.read_text())
            except (OSError, ValueError):
                old = {}
            outputs = old.get("outputs", {}) if isinstance(old, dict) else {}
            if (isinstance(old, dict) and old.get("fingerprint") == fingerprint and isinstance(outputs, dict)
                    and all(_within(self.out / str(p), self.out) and (self.out / str(p)).exists() for p in outputs.values())):
                self.say(f"{name}: unchanged, skipped")
                rec = StepRecord(name, directory, fingerprint, True, 0.0, outputs, old.get("summary", {}))
                self.steps.append(rec)
                self.upstream = fingerprint
                return rec
        if directory.exists():
            if not _owned(directory):  # checked before the run too; a folder that appeared since is not ours either
                raise InputError(f"{directory}: was not made by lstm-deploy run (no {MARKER} file); refusing to replace it")
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        _mark(directory, f"step {name}")
        self.say(f"{name}: running")
        start = time.perf_counter()
        try:
            outputs, summary = work(directory)
        except BaseException:  # failed or interrupted (Ctrl-C): leave nothing half-written behind
            shutil.rmtree(directory, ignore_errors=True)
            raise
        rel = {k: str(Path(v).resolve().relative_to(self.out.resolve())) for k, v in outputs.items()}
        rec = StepRecord(name, directory, fingerprint, False, time.perf_counter() - start, rel, summary)
        self.say(f"{name}: done in {rec.seconds:.0f} s")
        record = {"fingerprint": fingerprint, "outputs": rel, "summary": summary, "seconds": rec.seconds}
        atomic_write_text(record_file, json.dumps(record, indent=2, default=str))
        self.steps.append(rec)
        self.upstream = fingerprint
        return rec

    def path(self, rec: StepRecord, key: str) -> Path:
        return self.out / rec.outputs[key]

    # -- steps ------------------------------------------------------------------------

    def run(self) -> RunResult:
        self.out.mkdir(parents=True, exist_ok=True)
        if not _owned(self.out):
            _mark(self.out, "run")
        atomic_write_text(self.out / "recipe.yaml", self.recipe.to_yaml())
        self._data()
        self._model()
        assert self.data_path is not None and self.model_path is not None  # set by the two steps above
        ctx = StageContext(out_dir=self.out, data_path=self.data_path, model_path=self.model_path, recipe=self.recipe, small=self.small,
                           labels=self.labels, preprocessing=self.preprocessing, steps=self.steps, say=self.say)
        for config in self.recipe.stages:
            if "seed" in type(config).model_fields and "seed" not in config.model_fields_set:
                config = config.replace(seed=self.recipe.seed)  # the recipe's seed, unless the stage sets its own
            stage = STAGES[config.stage]
            rec = self.step(stage.name, config.model_dump(mode="json"),
                            lambda d, stage=stage, config=config: _outputs(stage.run(ctx, config, d)))
            if "model" in rec.outputs:
                ctx.model_path = self.path(rec, "model")
            if "artifacts" in rec.outputs:
                ctx.export_dir = self.path(rec, "artifacts")
        result = RunResult(self.out, self.steps)
        if any(s.stage == "report" for s in self.recipe.stages):
            result.report_md, result.report_html = self.out / "report.md", self.out / "report.html"
        return result

    def _data(self) -> None:
        data = self.recipe.data
        settings: dict[str, Any] = data.model_dump()
        if isinstance(data, FILE_SOURCES):
            settings["content"] = file_sha256(resolve(self.recipe_dir, data.path))

        def work(d: Path) -> tuple[dict[str, str], dict[str, Any]]:
            if isinstance(data, NpzData):
                path = d / "data.npz"
                shutil.copyfile(resolve(self.recipe_dir, data.path), path)
                ds = load_data(path)
                summary = {"description": f"{data.path}: {rows(ds.x_train)} train / {rows(ds.x_test)} test samples", "task": ds.task}
                return {"npz": str(path)}, summary
            prepared = prepare_data(data, self.recipe_dir, self.recipe.seed)
            if self.small:
                prepared.arrays = _shrink(prepared.arrays)
                prepared.extras = {k: _shrink(v, cap=16) for k, v in prepared.extras.items()}
            path = prepared.save_npz(d / "data.npz")
            extras = {name: str(PreparedData(arrays).save_npz(d / f"{name}.npz")) for name, arrays in prepared.extras.items()}
            pre = {"label_names": prepared.label_names, "preprocessing": prepared.preprocessing}
            atomic_write_text(d / "preprocessing.json", json.dumps(pre, indent=2))
            ds = load_data(path)
            return ({"npz": str(path), "preprocessing": str(d / "preprocessing.json"), **extras},
                    {"description": prepared.description, "task": ds.task})

        rec = self.step("data", settings, work)
        self.data_path = self.path(rec, "npz")
        if "preprocessing" in rec.outputs:
            pre = json.loads(self.path(rec, "preprocessing").read_text())
            self.labels, self.preprocessing = pre.get("label_names"), pre.get("preprocessing") or {}

    def _load_dataset(self, model: Any) -> Dataset:
        assert self.data_path is not None
        return load_for_model(self.data_path, model)

    def _model(self) -> None:
        spec = self.recipe.model
        if spec.path is not None:
            src = resolve(self.recipe_dir, spec.path)

            def load_work(d: Path) -> tuple[dict[str, str], dict[str, Any]]:
                from ..load.modelio import load_model

                loaded = load_model(src, unsafe=self.unsafe)
                if self.unsafe and self.recipe.stages:
                    self._stages_can_load(src, loaded)
                ds = self._load_dataset(loaded.model)
                scores = _evaluate(loaded.model, ds)
                return {}, {"source": str(src), "flavour": loaded.flavour, "sha256": loaded.sha256, "metrics": scores}

            rec = self.step("model", {"sha256": file_sha256(src), "unsafe": self.unsafe}, load_work)
            self.model_path = src
        else:
            train = spec.train
            assert train is not None  # guaranteed by ModelSpec validation
            settings = train.model_dump()

            def train_work(d: Path) -> tuple[dict[str, str], dict[str, Any]]:
                from ..load.summary import inspect_model
                from ..load.modelio import save_model
                from .train import train_baseline

                assert self.data_path is not None
                ds = load_data(self.data_path)
                tspec = train.model_copy(update={"epochs": min(train.epochs, 3)}) if self.small else train
                vocab = None
                if (self.preprocessing or {}).get("tokenizer"):
                    vocab = len(self.preprocessing["tokenizer"]["words"]) + 2
                if (self.preprocessing or {}).get("captioning"):
                    vocab = len(self.preprocessing["captioning"]["words"])
                n_classes = len(self.labels) if self.labels and ds.task == "classification" else None
                model, history = train_baseline(tspec, ds, seed=self.recipe.seed, vocab_size=vocab, progress=self.say, n_classes=n_classes)
                path = save_model(model, d / "model.keras", flavour="keras3")
                info = inspect_model(model, seq_len=sequence_length(ds.x_train))
                summary = {"epochs_run": len(history.get("loss", [])), "params": info.params, "macs": info.macs,
                           "metrics": _evaluate(model, ds), "history": {k: v[-1] for k, v in history.items()}}
                return {"model": str(path)}, summary

            rec = self.step("train", settings, train_work)
            self.model_path = self.path(rec, "model")


    @staticmethod
    def _stages_can_load(src: Path, loaded: Any) -> None:
        """With --unsafe the model step loads anything; the stages take built-in Keras layers only: say so now, not later."""
        from ..load.layers import check_supported
        from ..load.modelio import code_findings

        check_supported(loaded.model.layers)
        findings = code_findings(src)
        if findings:
            raise UnsupportedLayerError(f"{src}: --unsafe loaded it, but it carries {findings[0]}, and the pipeline stages only take "
                                        "models of built-in Keras layers; replace it with a built-in layer")


def _shrink(arrays: dict[str, Any], cap: int = 64) -> dict[str, Any]:
    """--small: keep at most ``cap`` samples per split (stratification is not needed for smoke runs)."""
    return {k: v[:cap] for k, v in arrays.items()}


def _outputs(out: Any) -> tuple[dict[str, str], dict[str, Any]]:
    return {k: str(v) for k, v in out.outputs.items()}, out.summary


def _evaluate(model: Any, ds: Dataset) -> dict[str, float]:
    from ..load.flavours import predict

    return metrics.task_metrics(ds.y_test, predict(model, ds.x_test), ds.task)


def run_recipe(recipe: Recipe, out_dir: str | Path, *, recipe_dir: str | Path = ".", force: bool = False, small: bool = False,
               progress: Progress | None = None, unsafe: bool = False) -> RunResult:
    """Run every step of ``recipe`` into ``out_dir``; see the module docstring.

    ``unsafe`` lets the model step load a model file that carries code (Lambda layers, custom
    objects); only the person at the command line can set it (``lstm-deploy run --unsafe``),
    never a recipe. Inputs and outputs are checked before any work starts.
    """
    recipe_dir = Path(recipe_dir)
    check_inputs(recipe, recipe_dir)
    check_outputs(recipe, out_dir, recipe_dir)
    runner = _Runner(recipe, Path(out_dir), recipe_dir, force, small, progress or (lambda _msg: None), unsafe)
    return runner.run()
