"""``prune_model``: bridge to tf_keras, prune, fine-tune, measure, hand back in the user's flavour.

The one entry point of the prune stage (CLI, recipes, search). The input model is never
modified. Metrics are the primary metric of :mod:`lstm_deploy.metrics` (accuracy as a
fraction, or RMSE); early stopping, "did not recover" and ``max_metric_drop`` are judged on the
selection rows of :mod:`lstm_deploy.compress.holdout` (``x_val``, or half of ``x_test``: never
rows the model trained on).

Example:
    >>> res = prune_model(model, dataset, PruneConfig(sparsity=0.8))        # doctest: +SKIP
    >>> res.report.metric_before, res.report.metric_after                   # doctest: +SKIP
    (0.95, 0.95)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ... import metrics
from ...load.dataset import Dataset, check_fits, rows, take
from .. import fit, holdout
from ..distribute import training_strategy
from ..progress import Progress
from .config import PruneConfig
from .magnitude import MagnitudeResult, magnitude_prune, prunable_weights
from .report import PruneReport, layer_rows, onnx_latency, weight_sizes
from .units import UnitPruneResult, unit_prune

#: The default-flag targets on x_test: accuracy points lost (classification) or RMSE share gained (regression), per method.
TARGETS = {"magnitude": (0.01, 0.05), "units": (0.02, 0.10)}


def target_missed(method: str, sparsity: float, task: str, before: float, after: float) -> str | None:
    """A warning when pruning lost more than its target (``TARGETS``); the sparsity asked for is kept, ``--max-metric-drop`` named."""
    points, share = TARGETS.get(method, (None, None))
    if points is None or sparsity <= 0:
        return None
    drop = metrics.metric_drop(before, after, task)
    limit = points if task == "classification" else share * abs(before)
    if drop <= limit + 1e-12:
        return None
    name = metrics.primary_metric(task)
    what = f"{points * 100:g} points" if task == "classification" else f"{share:.0%} of its RMSE"
    return (f"{method} {sparsity:.0%} lost {metrics.format_drop(name, drop)} on x_test, more than its {what} target "
            f"({metrics.format_metric(name, before)} -> {metrics.format_metric(name, after)}); the sparsity you asked for is kept. "
            f"`--max-metric-drop {limit:.4g}` finds the largest {method} sparsity within that budget")

@dataclass(frozen=True)
class PruneResult:
    """The pruned model (same flavour as the input) and its report."""

    model: Any
    report: PruneReport


@dataclass(frozen=True)
class _Attempt:
    model: Any  # tf_keras
    val_metric: float
    details: dict[str, Any]
    units_before: dict[str, int] | None = None
    units_after: dict[str, int] | None = None
    run: fit.FitRun | None = None
    achieved: float = 0.0


def _attempt(base: Any, dataset: Dataset, config: PruneConfig, val: fit.Split, progress: Progress | None) -> _Attempt:
    def score(model: Any) -> float:
        return fit.evaluate(model, dataset, val.x_val, val.y_val)

    if config.sparsity == 0:
        from ...load.flavours import to_tf_keras

        copy = to_tf_keras(base, canonical=True, verify=False)
        return _Attempt(copy, score(copy), {"note": "sparsity 0: model returned unchanged"})
    if config.method == "magnitude":
        mag: MagnitudeResult = magnitude_prune(base, dataset, config, progress)
        weights = [np.asarray(v) for name in mag.layers for _, v in prunable_weights(mag.model.get_layer(name))]
        achieved = float(sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights))
        details = {"schedule": asdict(mag.schedule) | {"final_epoch": mag.schedule.final_epoch}, "weights": mag.sparsity}
        return _Attempt(mag.model, score(mag.model), details, run=mag.run, achieved=achieved)
    with training_strategy().scope():  # the pruned model's variables are created here
        res: UnitPruneResult = unit_prune(base, config.sparsity, layers=config.layers, per_layer=config.per_layer)
    run = None
    if config.finetunes:
        probe = fit.predict(res.model, take(val.x_train, slice(0, 16)))
        train_targets, loss = fit.fit_targets(dataset, val.y_train, probe, fit.predict(base, val.x_train), config.distill)
        with training_strategy().scope():
            fit.compile_for(res.model, dataset, config.learning_rate, loss=loss)
        run = fit.finetune(res.model, val, train_targets, config.budget(rows(val.x_train)), score=fit.val_scorer(dataset, val, probe),
                           task=dataset.task, batch_size=config.batch_size, patience=config.patience, seed=config.seed,
                           reference=score(base), progress=progress, label=f"prune units {config.sparsity:.0%}")
    details = {"units_after": res.units_after, "skipped": res.skipped}
    return _Attempt(res.model, score(res.model), details, res.units_before, res.units_after, run, res.fraction_removed)


def prune_model(model: Any, dataset: Dataset, config: PruneConfig, *, measure_latency: bool | None = None,
                progress: Progress | None = None) -> PruneResult:
    """Prune ``model`` (Keras 3 or tf_keras) on ``dataset`` as ``config`` says; fine-tune; report.

    Args:
        model: a trained Keras model; it is not modified.
        dataset: from :func:`lstm_deploy.load.load_data`; train fine-tunes, the validation split
            selection rows (``x_val``, else half of ``x_test``; :mod:`~lstm_deploy.compress.holdout`) select,
            ``x_test`` scores the report (and its confirmation rows are reported apart).
        config: what to prune; with ``max_metric_drop`` the highest sparsity within budget is searched.
        measure_latency: time batch-1 ONNX Runtime before/after (default: for unit pruning only).
        progress: receives the fine-tune's steps and validation checks (default: silent).

    Raises:
        InputError / UnsupportedLayerError: bad config, data or an unprunable model.
        StageError: a target could not be reached (e.g. no sparsity within ``max_metric_drop``).

    Example:
        >>> res = prune_model(model, ds, PruneConfig(sparsity=0.5, method="units"))           # doctest: +SKIP
        >>> res.report.finetune["curve"][-1]                                                  # doctest: +SKIP
        {'step': 600, 'val_metric': 0.963, 'val_loss': 0.118}
        >>> res.model.save("small.keras")                                                     # doctest: +SKIP
    """
    from ...load.flavours import flavour_of, to_flavour, to_tf_keras
    from .search import bisect_sparsity

    flavour = flavour_of(model)
    base = to_tf_keras(model, canonical=True)  # a verified copy; the caller's model is untouched
    check_fits(base, dataset)
    rows_ = holdout.choose(dataset, config.seed)
    val = fit.Split(*rows_.fit_arrays())
    val_before = fit.evaluate(base, dataset, val.x_val, val.y_val)
    notes = [f"rows: {rows_.summary()}"]

    def attempt(s: float) -> tuple[_Attempt, float, dict[str, Any]]:
        a = _attempt(base, dataset, config.with_sparsity(s), val, progress)
        drop = metrics.metric_drop(val_before, a.val_metric, dataset.task)
        return a, drop, {"val_metric": a.val_metric, "achieved_sparsity": a.achieved}

    curve: list[dict[str, Any]] = []
    if config.max_metric_drop is not None:
        (sparsity, best), curve = bisect_sparsity(
            attempt, config.sparsity, max_drop=config.max_metric_drop, steps=config.search_steps
        )
        notes.append(f"search: highest sparsity whose selection-row {metrics.primary_metric(dataset.task)} dropped at most "
                     f"{config.max_metric_drop} is {sparsity:.4f}")
    else:
        sparsity, best = config.sparsity, attempt(config.sparsity)[0]
    if measure_latency is None:
        measure_latency = config.method == "units" and sparsity > 0
    lat_before = lat_after = None
    if measure_latency:
        lat_before, lat_after = onnx_latency(base, best.model, sample=take(dataset.x_test, 0))
    before, after = fit.evaluate(base, dataset), fit.evaluate(best.model, dataset)
    if rows_.select_rows is not None and rows_.scheme == "x_test halves":
        c_before, c_after = (fit.evaluate(m, dataset, rows_.x_confirm, rows_.y_confirm) for m in (base, best.model))
        name = metrics.primary_metric(dataset.task)
        notes.append(f"confirmation rows ({rows_.n_confirm} of x_test, not used to select): {name} "
                     f"{metrics.format_metric(name, c_before)} before, {metrics.format_metric(name, c_after)} after")
    report = PruneReport(
        method=config.method,
        target_sparsity=sparsity,
        achieved_sparsity=best.achieved,
        metric=metrics.primary_metric(dataset.task),
        metric_before=before,
        metric_after=after,
        metric_drop=metrics.metric_drop(before, after, dataset.task),
        size_before=weight_sizes(base),
        size_after=weight_sizes(best.model),
        layers=layer_rows(base, best.model, best.units_before, best.units_after),
        flavour=flavour,
        schedule=best.details.get("schedule"),
        weight_sparsity=best.details.get("weights", {}),
        finetune=best.run.to_dict() if best.run else None,
        latency_before=lat_before,
        latency_after=lat_after,
        search=curve,
        notes=notes + ([best.details["note"]] if "note" in best.details else []),
        warnings=[best.run.warning] if best.run and best.run.warning else [],
    )
    missed = None if config.max_metric_drop is not None else target_missed(config.method, sparsity, dataset.task, before, after)
    if missed:
        report.warnings.append(missed)
    out = to_flavour(best.model, flavour) if flavour != "tf_keras" else best.model
    return PruneResult(out, report)
