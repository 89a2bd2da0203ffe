"""The stage registry: each pipeline stage once, with its config class and one call shape.

Every stage is ``run(context, config, folder) -> StageOutput``: it reads what earlier steps
produced from the :class:`StageContext`, writes its files into ``folder`` and returns them
with a summary for the run report. The config class is the stage's one schema: the
library function takes it, the command builds it from flags, and a recipe's ``stages:``
entry is validated into it. Adding a stage is one :func:`register` call.

Example:
    >>> list(STAGES)
    ['prune', 'quantize', 'optimize', 'export', 'caption', 'benchmark', 'report']
    >>> STAGES["prune"].config(sparsity=0.8).method
    'magnitude'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..atomic import atomic_write_text
from ..bench.config import BenchConfig
from ..compress.prune.config import PruneConfig
from ..compress.qat.config import QatConfig
from ..config import StageConfig
from ..export.config import ExportConfig
from ..optimize.config import OptimizeConfig
from .caption import CaptionConfig

Progress = Callable[[str], None]


class ReportConfig(StageConfig):
    """The final ``report.md`` / ``report.html`` of a run. ``title`` defaults to the recipe's name."""

    stage: Literal["report"] = "report"
    title: str | None = None


@dataclass
class StepRecord:
    """What one step of a run did (the runner records it): its folder, whether it was skipped, its outputs and summary."""

    name: str
    directory: Path
    fingerprint: str
    skipped: bool
    seconds: float
    outputs: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageContext:
    """What earlier steps of a run produced, as the next stage needs it."""

    out_dir: Path
    data_path: Path
    model_path: Path
    recipe: Any
    small: bool = False
    labels: list[str] | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    export_dir: Path | None = None
    steps: list["StepRecord"] = field(default_factory=list)
    say: Progress = lambda _msg: None  # noqa: E731

    def dataset(self, model: Any) -> Any:
        """The run's data, validated against ``model``'s input and output shapes."""
        from ..load.dataset import load_for_model

        return load_for_model(self.data_path, model)


@dataclass
class StageOutput:
    """Files a stage wrote (``model`` replaces the run's current model) and its summary."""

    outputs: dict[str, Path]
    summary: dict[str, Any]


@dataclass(frozen=True)
class Stage:
    """One registered stage."""

    name: str
    config: type[StageConfig]
    run: Callable[[StageContext, Any, Path], StageOutput]


STAGES: dict[str, Stage] = {}
SMALL_STEPS = 20  # fine-tuning budget of prune and quantize under --small


def register(name: str, config: type[StageConfig]) -> Callable[[Callable[..., StageOutput]], Callable[..., StageOutput]]:
    """Decorator: register ``run`` as stage ``name`` with its ``config`` class (pipeline order = registration order)."""
    if config.model_fields["stage"].default != name:
        raise TypeError(f"{config.__name__}.stage must default to {name!r}")

    def add(run: Callable[..., StageOutput]) -> Callable[..., StageOutput]:
        STAGES[name] = Stage(name, config, run)
        return run

    return add


class LineProgress:
    """A fine-tune's progress as log lines through ``say`` (the run's log): each validation check, 20 per fine-tune.

    Example:
        >>> LineProgress(print, "accuracy").start("prune", 600)       # doctest: +SKIP
        prune: fine-tuning, 600 steps
    """

    def __init__(self, say: Callable[[str], None], metric: str) -> None:
        self.say, self.metric, self.label, self.total = say, metric, "", 0

    def start(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.say(f"{label}: fine-tuning, {total} steps")

    def advance(self, step: int) -> None:
        return None

    def check(self, point: dict[str, Any], best: bool) -> None:
        from ..compress.progress import describe_point

        self.say(f"{self.label}: step {point['step']}/{self.total}: {describe_point(point, self.metric)}{' (best)' if best else ''}")

    def end(self) -> None:
        return None


def _line_progress(ctx: StageContext, ds: Any) -> LineProgress:
    from ..metrics import primary_metric

    return LineProgress(ctx.say, primary_metric(ds.task))


def _model_stage(ctx: StageContext, folder: Path, compress: Callable[[Any, Any], Any], intent: dict[str, Any] | None = None) -> StageOutput:
    """Load the current model, compress it, save it in the user's flavour (with ``intent``) and write its report."""
    from ..load.modelio import load_model, save_model

    loaded = load_model(ctx.model_path)
    result = compress(loaded.model, ctx.dataset(loaded.model))
    path = save_model(result.model, folder / "model.keras", flavour=loaded.flavour, intent=intent)
    atomic_write_text(folder / "report.json", json.dumps(result.report.to_dict(), indent=2, default=str))
    return StageOutput({"model": path, "report": folder / "report.json"}, result.report.summary())


def _small_budget(config: Any) -> Any:
    """The fine-tuning budget of a ``--small`` run: at most ``SMALL_STEPS`` steps, never more than the recipe asked.

    A recipe's own ``epochs`` stays (capped at 2: a small run holds at most 64 samples, so that is a
    handful of steps); before, a 2-epoch QAT became 20 steps and 20 recalibrations under ``--small``.
    """
    if config.steps is None and config.epochs is not None:
        return config.replace(epochs=min(config.epochs, 2))
    return config.replace(steps=min(config.steps if config.steps is not None else SMALL_STEPS, SMALL_STEPS))


@register("prune", PruneConfig)
def run_prune(ctx: StageContext, config: PruneConfig, folder: Path) -> StageOutput:
    from ..compress.prune import prune_model

    if ctx.small:
        config = _small_budget(config)
    return _model_stage(ctx, folder, lambda model, ds: prune_model(model, ds, config, progress=_line_progress(ctx, ds)))


@register("quantize", QatConfig)
def run_quantize(ctx: StageContext, config: QatConfig, folder: Path) -> StageOutput:
    from ..compress.qat import quantize_aware_train

    if ctx.small:
        config = _small_budget(config)
    return _model_stage(ctx, folder, lambda model, ds: quantize_aware_train(model, ds, config, progress=_line_progress(ctx, ds)),
                        intent=config.intent())


@register("optimize", OptimizeConfig)
def run_optimize(ctx: StageContext, config: OptimizeConfig, folder: Path) -> StageOutput:
    """The deployment search in place of prune/quantize/export: its winner becomes the run's model and artifact."""
    import shutil

    from ..optimize import optimize_model

    if ctx.small:
        config = config.replace(trials=min(config.trials or 2, 2), finetune_steps=min(config.finetune_steps, 20),  # type: ignore[assignment]
                                qat_steps=min(config.qat_steps, 20), finalists=1)
    if config.storage is not None:  # a recipe's study is a plain file name, kept in the run's output folder (recipe validation)
        from ..optimize.storage import recipe_storage_url

        config = config.replace(storage=recipe_storage_url(config.storage, folder.parent))  # type: ignore[assignment]
    result = optimize_model(ctx.model_path, ctx.data_path, folder, config, progress=ctx.say)
    winner = folder / "winner"
    winner.mkdir()
    for key in ("artifact", "manifest"):  # the artifact folder later stages (benchmark) read: the winner only
        shutil.copyfile(result.paths[key], winner / result.paths[key].name)
    best, base = result.report["best"], result.report["baseline"]
    summary = {"artifact": best["artifact"], "metric": result.report["metric"], "metric_before": base.get("metric"), "metric_after": best.get("metric"),
               **{k: best.get(k) for k in ("metric_drop", "latency_ms", "size_bytes", "gzip_bytes", "speedup", "gzip_ratio")}}
    return StageOutput({"model": result.paths["model"], "artifacts": winner, "report": result.paths["json"]},
                       {**summary, "partial": result.partial, "trials": result.report["search"]["trials_finished"]})


@register("export", ExportConfig)
def run_export(ctx: StageContext, config: ExportConfig, folder: Path) -> StageOutput:
    from ..export import export_model

    results = export_model(ctx.model_path, folder, config, data=ctx.data_path, labels=ctx.labels,
                           preprocessing=ctx.preprocessing or None, progress=ctx.say)
    if config.skipped():
        ctx.say(f"export: not available, skipped: {', '.join(config.skipped())}")
    rows = [r.summary() for r in results]
    atomic_write_text(folder / "export.json", json.dumps(rows, indent=2, default=str))
    return StageOutput({"summary": folder / "export.json", "artifacts": folder}, {"artifacts": rows, "not_available": config.skipped()})


@register("caption", CaptionConfig)
def run_caption(ctx: StageContext, config: CaptionConfig, folder: Path) -> StageOutput:
    """Caption the held-out images with Keras and with the exported encoder/decoder pairs (``image_captions`` data only)."""
    import numpy as np

    from ..errors import InputError
    from ..load.modelio import load_model
    from .caption import caption_rows

    vocab = (ctx.preprocessing or {}).get("captioning")
    data_step = next((s for s in ctx.steps if s.name == "data"), None)
    if not vocab or data_step is None or "captions" not in data_step.outputs:
        raise InputError("the caption stage needs captioned images: use data kind image_captions")
    with np.load(ctx.out_dir / data_step.outputs["captions"], allow_pickle=False) as held_out:
        images, references = held_out["images"], [str(c) for c in held_out["captions"]]
    ctx.say(f"caption: exporting the captioner and captioning {len(images)} held-out images")
    rows = caption_rows(load_model(ctx.model_path).model, images, references, vocab, config, folder)
    atomic_write_text(folder / "captioning.json", json.dumps(rows, indent=2))
    return StageOutput({"summary": folder / "captioning.json"}, {"images": len(images), "captions": rows})


@register("benchmark", BenchConfig)
def run_benchmark(ctx: StageContext, config: BenchConfig, folder: Path) -> StageOutput:
    from ..bench import benchmark, write_report

    from ..bench.registry import expand_runtimes, get_runtime

    export = next((s for s in ctx.recipe.stages if s.stage == "export"), None)
    if config.max_metric_drop is None and export is not None and export.max_metric_drop is not None:
        config = config.replace(max_metric_drop=export.max_metric_drop)  # type: ignore[assignment]  # one budget per recipe
    inputs = ([ctx.model_path] if config.include_keras else []) + ([ctx.export_dir] if ctx.export_dir is not None else [])
    names = expand_runtimes(list(config.runtimes))
    if config.include_keras and not any("keras" in get_runtime(n).formats for n in names):
        config = config.replace(runtimes=(*names, "keras-function"))  # type: ignore[assignment]  # else include_keras gave no Keras row
        ctx.say("benchmark: include_keras: timing the Keras model with keras-function (no Keras runtime was listed)")
    if ctx.small:
        config = config.replace(warmup=min(config.warmup, 2), repeats=min(config.repeats, 10))  # type: ignore[assignment]
    report = benchmark([str(p) for p in inputs], ctx.data_path, config, progress=ctx.say)
    paths = write_report(report, folder)
    return StageOutput({"json": paths["json"], "md": paths["md"]}, {"rows": len(report.rows)})


@register("report", ReportConfig)
def run_report(ctx: StageContext, config: ReportConfig, folder: Path) -> StageOutput:
    import shutil

    from ..report.run import write_run_report

    md, html = write_run_report(ctx.recipe, ctx.out_dir, ctx.steps, title=config.title)
    shutil.copyfile(md, folder / "report.md")
    return StageOutput({"md": md, "html": html}, {})


STAGE_ORDER = tuple(STAGES)
