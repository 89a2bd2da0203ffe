"""Fine-tuning shared by pruning, QAT and baseline training: split, loss, targets, the step loop, scoring.

One place chooses the loss (from the data and the model's own outputs: probabilities or
logits, sparse or one-hot labels, or MSE for regression), one batched ``predict``
(:func:`lstm_deploy.load.flavours.predict`) serves every score, and scores are the primary
metric of :mod:`lstm_deploy.metrics` (accuracy as a fraction, or RMSE).

:func:`finetune` runs a :class:`~lstm_deploy.compress.budget.Budget` of optimizer steps,
checks the validation split every ``eval_every`` steps (the curve: step, val metric, val
loss, plus what the caller adds, e.g. sparsity), keeps the best checked weights once the
model is final (``start_step``: e.g. the pruning schedule has ended), stops early after
``patience`` checks without a new best (never in the first half of the budget: a model
whose units were just removed often gets worse before it recovers), and says when the
metric did not recover.
With ``distill`` the training targets mix the labels with the original model's outputs.

Example:
    >>> score = evaluate(model, dataset)                          # doctest: +SKIP
    >>> compile_for(model, dataset, learning_rate=1e-3)           # doctest: +SKIP
    >>> run = finetune(model, split(dataset), fit_targets(...), plan_budget(270, 32), score=val_scorer(...))  # doctest: +SKIP
    >>> run.best_step, run.warning                                # doctest: +SKIP
    (540, None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from .. import _tf, metrics
from ..errors import DataError
from ..load.dataset import Dataset, rows, take
from ..load.flavours import predict
from .budget import Budget, steps_per_epoch
from .progress import Progress, Silent

__all__ = ["FitRun", "Split", "compile_for", "evaluate", "finetune", "fit_targets", "is_probability", "loss_for", "predict", "split",
           "steps_per_epoch", "targets", "val_scorer"]


@dataclass(frozen=True)
class Split:
    """The arrays fine-tuning uses: train for gradients, val for early stopping and model selection."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def split(dataset: Dataset, val_fraction: float = 0.1, seed: int = 0) -> Split:
    """Train/val arrays (val split from train when the data has none; never the test set)."""
    return Split(*dataset.train_val_split(val_fraction, seed=seed))


def is_probability(out: np.ndarray) -> bool:
    """Whether model outputs look like probabilities (sigmoid in [0, 1], or softmax rows summing to 1)."""
    out = np.asarray(out)
    if out.size == 0 or out.min() < 0 or out.max() > 1:
        return False
    return out.shape[-1] == 1 or bool(np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))


def loss_for(probe: np.ndarray, y: np.ndarray, task: str, keras: ModuleType | None = None) -> Any:
    """The loss that fits a model whose outputs look like ``probe`` and targets ``y``.

    ``keras`` is the flavour's module (``tf_keras`` by default; Keras 3 for baselines).
    """
    k = keras or _tf.tf_keras()
    if task == "regression":
        return k.losses.MeanSquaredError()
    from_logits = not is_probability(probe)
    if probe.shape[-1] == 1:
        return k.losses.BinaryCrossentropy(from_logits=from_logits)
    one_hot = y.ndim == probe.ndim and y.shape[-1] == probe.shape[-1]
    cls = k.losses.CategoricalCrossentropy if one_hot else k.losses.SparseCategoricalCrossentropy
    return cls(from_logits=from_logits)


def targets(dataset: Dataset, y: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """``y`` shaped for ``fit`` against outputs of ``out_shape`` (per-sample shape)."""
    if dataset.task == "regression":
        y = y.astype(np.float32)
        return y.reshape((len(y),) + tuple(out_shape)) if y.size == len(y) * int(np.prod(out_shape)) else y
    if out_shape[-1] == 1:
        return dataset.labels(y).astype(np.float32).reshape((len(y),) + tuple(out_shape))
    return y


def compile_for(model: Any, dataset: Dataset, learning_rate: float, keras: ModuleType | None = None, loss: Any = None) -> None:
    """Compile ``model`` with Adam and ``loss`` (default: :func:`loss_for` its outputs on ``dataset``)."""
    k = keras or _tf.tf_keras()
    if loss is None:
        loss = loss_for(predict(model, take(dataset.x_train, slice(0, 16))), dataset.y_train, dataset.task, k)
    model.compile(optimizer=k.optimizers.Adam(learning_rate=learning_rate), loss=loss)


def _as_probabilities(out: np.ndarray) -> np.ndarray:
    if is_probability(out):
        return out
    if out.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-out))
    e = np.exp(out - out.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def fit_targets(dataset: Dataset, y: np.ndarray, probe: np.ndarray, teacher: np.ndarray | None = None,
                distill: float = 0.0) -> tuple[np.ndarray, Any]:
    """Training targets and the matching loss for a model whose outputs look like ``probe``.

    With ``distill`` > 0 and ``teacher`` (the original model's outputs on the same samples),
    the targets are ``(1 - distill) * labels + distill * teacher`` -- soft labels (teacher
    probabilities) under cross-entropy, or a blend of targets under MSE -- which is the
    distillation loss of Hinton et al. at temperature 1, trained by a plain ``fit``.

    Example:
        >>> t, loss = fit_targets(ds, split.y_train, probe, teacher=base_out, distill=0.5)   # doctest: +SKIP
    """
    shape = tuple(probe.shape[1:])
    if teacher is None or distill <= 0:
        return targets(dataset, y, shape), loss_for(probe, y, dataset.task)
    if dataset.task == "regression":
        blended = (1.0 - distill) * targets(dataset, y, shape) + distill * teacher.reshape((len(y),) + shape)
        return blended.astype(np.float32), loss_for(probe, y, dataset.task)
    soft = _as_probabilities(np.asarray(teacher, np.float64))
    labels = dataset.labels(y)
    hard = labels.reshape(soft.shape).astype(np.float64) if soft.shape[-1] == 1 else np.eye(soft.shape[-1])[labels]
    mixed = ((1.0 - distill) * hard + distill * soft).astype(np.float32)
    k = _tf.tf_keras()
    from_logits = not is_probability(probe)
    loss = k.losses.BinaryCrossentropy(from_logits=from_logits) if soft.shape[-1] == 1 else k.losses.CategoricalCrossentropy(from_logits=from_logits)
    return mixed, loss


def evaluate(model: Any, dataset: Dataset, x: np.ndarray | None = None, y: np.ndarray | None = None) -> float:
    """The primary metric of ``model`` on ``x_test`` (or the given arrays): accuracy fraction or RMSE.

    Example:
        >>> evaluate(model, dataset)   # doctest: +SKIP
        0.9375
    """
    x = dataset.x_test if x is None else x
    y = dataset.y_test if y is None else y
    out = predict(model, x)
    if not _targets_fit(y, out, dataset.task):
        raise DataError(f"{dataset.source}: targets of shape {y.shape} do not fit model outputs of shape {out.shape}; "
                        "give one target (an integer label or a one-hot row for classification) per model output")
    logits = out.shape[-1] == 1 and not is_probability(out)
    return metrics.score(y, out, dataset.task, logits=logits)


def _targets_fit(y: np.ndarray, out: np.ndarray, task: str) -> bool:
    if task == "regression":
        return y.size == out.size
    try:
        metrics.true_classes(y, out)
    except ValueError:
        return False
    return True


Score = Callable[[Any], tuple[float, float]]


def val_scorer(dataset: Dataset, data: Split, probe: np.ndarray, *, logits: bool = False) -> Score:
    """``score(model) -> (val metric, val loss)`` on the validation split, the labels' own loss (not the distilled one).

    ``probe``: the model's outputs on a few samples (picks the loss); ``logits``: a single
    output column holds logits (thresholded at 0).
    """
    loss = loss_for(probe, data.y_val, dataset.task)
    y_fit = targets(dataset, data.y_val, tuple(probe.shape[1:]))

    def score(model: Any) -> tuple[float, float]:
        out = predict(model, data.x_val)
        # per-sample losses averaged here: calling the Loss object itself is refused inside a tf.distribute strategy
        return metrics.score(data.y_val, out, dataset.task, logits=logits), float(np.mean(loss.call(y_fit, out)))

    return score


@dataclass
class FitRun:
    """What one fine-tune did: the checked curve, the kept step, and whether the metric recovered."""

    budget: Budget
    curve: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0
    best_metric: float | None = None
    steps_run: int = 0
    stopped_early: bool = False
    reference: float | None = None
    recovered: bool | None = None
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget.to_dict(), "curve": self.curve, "best_step": self.best_step, "best_val_metric": self.best_metric,
                "steps_run": self.steps_run, "stopped_early": self.stopped_early, "val_metric_before": self.reference,
                "recovered": self.recovered, "warning": self.warning}


def recovery_tolerance(task: str, reference: float, n_val: int) -> float:
    """How far below ``reference`` the validation metric may end and still count as recovered.

    Classification: half a point, or one validation sample where that is more; regression: 5 % of the RMSE.
    """
    return max(0.005, 1.0 / max(n_val, 1)) if task == "classification" else 0.05 * abs(reference)


def finetune(
    model: Any,
    data: Split,
    train_targets: np.ndarray,
    budget: Budget,
    *,
    score: Score,
    task: str,
    batch_size: int = 32,
    patience: int = 5,
    seed: int = 0,
    start_step: int = 0,
    reference: float | None = None,
    callbacks: Sequence[Any] = (),
    extras: Callable[[Any], dict[str, float]] | None = None,
    progress: Progress | None = None,
    label: str = "fine-tune",
) -> FitRun:
    """Train a compiled tf_keras ``model`` in place for ``budget.steps`` optimizer steps (see the module docstring).

    ``score(model)`` gives ``(metric, tie-break)`` at each check (tie-break: lower is better, e.g.
    the val loss). Checks from ``start_step`` on may become the best, whose weights are
    restored at the end; with ``start_step == 0`` the untouched model is checked first (step 0).
    ``reference`` (the metric before compression) decides ``recovered`` and the warning.
    ``callbacks`` run first (e.g. tfmot's ``UpdatePruningStep``); ``extras(model)`` adds fields
    to each curve point (e.g. ``sparsity``).
    """
    tf, tfk = _tf.tf(), _tf.tf_keras()
    tfk.utils.set_random_seed(seed)
    progress = progress or Silent()
    run = FitRun(budget=budget, reference=reference)
    state: dict[str, Any] = {"best": None, "weights": None, "wait": 0}

    def check(step: int) -> None:
        m, loss = score(model)
        point = {"step": step, "val_metric": round(float(m), 6), "val_loss": round(float(loss), 6), **(extras(model) if extras else {})}
        run.curve.append(point)
        best = state["best"]
        new_best = step >= start_step and (best is None or metrics.better(m, best[0], task) or (m == best[0] and loss < best[1]))
        if new_best:
            state.update(best=(m, loss), weights=model.get_weights(), wait=0)
            run.best_step, run.best_metric = step, float(m)
        elif step >= start_step:
            state["wait"] += 1
        progress.check(point, new_best)

    class _Checks(tfk.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            run.steps_run += 1
            progress.advance(run.steps_run)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            check(run.steps_run)
            # a compressed model often gets worse before it recovers: never stop in the first half of the budget
            if state["wait"] >= patience and 2 * run.steps_run >= budget.steps:
                run.stopped_early = self.model.stop_training = True

    progress.start(label, budget.steps)
    try:
        if start_step == 0:
            check(0)
        ds = tf.data.Dataset.from_tensor_slices((data.x_train, train_targets))
        ds = ds.shuffle(rows(data.x_train), seed=seed, reshuffle_each_iteration=True).repeat().batch(batch_size)
        model.fit(ds, epochs=budget.checks, steps_per_epoch=budget.eval_every, verbose=0, callbacks=[*callbacks, _Checks()])
    finally:
        progress.end()
    if state["weights"] is not None:
        model.set_weights(state["weights"])
    _judge(run, task, len(data.y_val), patience)
    return run


def _judge(run: FitRun, task: str, n_val: int, patience: int) -> None:
    """Set ``recovered`` and, when the metric did not come back, a warning that says what to change."""
    if run.reference is None or run.best_metric is None:
        return
    name = metrics.primary_metric(task)
    drop = metrics.metric_drop(run.reference, run.best_metric, task)
    run.recovered = drop <= recovery_tolerance(task, run.reference, n_val) + 1e-12
    if run.recovered:
        return
    values = f"{metrics.format_metric(name, run.reference)} before, best {metrics.format_metric(name, run.best_metric)} at step {run.best_step}"
    if run.stopped_early:
        run.warning = (f"validation {name} stopped improving ({patience} checks without a new best) before it recovered ({values}); "
                       "compress less (lower --sparsity) or fine-tune with a lower --learning-rate")
    else:
        run.warning = (f"the fine-tuning budget ({run.budget.steps} steps, {run.budget.source}) ran out before validation {name} "
                       f"recovered ({values}); give a longer budget, e.g. --steps {2 * run.budget.steps}")
