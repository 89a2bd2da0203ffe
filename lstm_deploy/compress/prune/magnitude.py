"""Magnitude pruning with tfmot, including LSTMs inside ``Bidirectional``.

tfmot wraps layers it knows (LSTM, GRU, Dense, Conv1D, Embedding) but refuses
``Bidirectional`` and ``TimeDistributed``. Its wrapper also accepts any layer with a
``get_prunable_weights`` method, so those two are rebuilt as small subclasses that
name their inner kernels (forward and backward ``kernel`` / ``recurrent_kernel``;
the wrapped layer's ``kernel``). After fine-tuning the masks are applied one last
time, the wrappers are stripped, and the weights go back into a clone of the plain
original architecture -- a model with no trace of tfmot.

The schedule is derived from the real number of training steps (tfmot's default
mask frequency of 100 steps silently leaves short fine-tunes at 0 % sparsity):
masks update from step 1 up to ~40 % of the run, at a frequency that lands an
update exactly on the last pruning step, so the target is always reached and the
remaining ~60 % of the budget is a recovery phase at the final sparsity.

Example:
    >>> result = magnitude_prune(tfk_model, dataset, PruneConfig(sparsity=0.8))          # doctest: +SKIP
    >>> result.sparsity["lstm/kernel"]                                                   # doctest: +SKIP
    0.8
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import _tf
from ...errors import InputError, StageError, UnsupportedLayerError
from ...load.dataset import Dataset, rows, take
from ...load.layers import LAYERS
from .. import fit, holdout
from ..distribute import training_strategy
from ..progress import Progress
from .config import PruneConfig

PRUNE_WINDOW = 0.4  # share of the fine-tuning steps over which masks may still change; the rest is recovery
MAX_MASK_UPDATES = 16


@dataclass(frozen=True)
class ScheduleSpec:
    """A pruning schedule expressed in real training steps (tfmot counts steps from 1)."""

    kind: str
    target: float
    begin_step: int
    end_step: int
    frequency: int
    total_steps: int
    steps_per_epoch: int

    @property
    def final_epoch(self) -> int:
        """The epoch (1-based) at whose end the masks are final."""
        return math.ceil(self.end_step / self.steps_per_epoch)

    def to_tfmot(self) -> Any:
        """The matching ``tfmot.sparsity.keras`` schedule object."""
        import tensorflow_model_optimization as tfmot

        sparsity = tfmot.sparsity.keras
        if self.kind == "polynomial":
            return sparsity.PolynomialDecay(
                initial_sparsity=0.0, final_sparsity=self.target, begin_step=self.begin_step,
                end_step=self.end_step, frequency=self.frequency,
            )
        return sparsity.ConstantSparsity(self.target, begin_step=self.begin_step, end_step=self.end_step, frequency=self.frequency)


def derive_schedule(kind: str, target: float, total_steps: int, steps_per_epoch: int) -> ScheduleSpec:
    """Pick begin/end/frequency from the real step count so the last mask update hits the target.

    Example:
        >>> s = derive_schedule("polynomial", 0.8, total_steps=600, steps_per_epoch=9)
        >>> (s.begin_step, s.end_step, s.frequency, s.final_epoch)
        (1, 226, 15, 26)
    """
    if total_steps < 1:
        raise InputError(f"--steps: fine-tuning needs at least one training step, got {total_steps}")
    begin = 1
    window_end = max(begin, int(total_steps * PRUNE_WINDOW))
    span = window_end - begin
    frequency = max(1, math.ceil(span / MAX_MASK_UPDATES)) if span else 1
    end = begin + frequency * (span // frequency)
    used = kind if end > begin else "constant"  # one update: polynomial degenerates to constant
    return ScheduleSpec(used, float(target), begin, end, frequency, total_steps, steps_per_epoch)


def prunable_layer_names(model: Any) -> list[str]:
    """Names of layers with weights magnitude pruning can handle (per :mod:`lstm_deploy.load.layers`)."""
    names = []
    for layer in model.layers:
        support = LAYERS.get(layer.__class__.__name__)
        if support is None or support.magnitude_prune is not None or not layer.weights:
            continue
        if layer.__class__.__name__ == "TimeDistributed" and not hasattr(layer.layer, "kernel"):
            continue
        names.append(layer.name)
    return names


def select_layers(model: Any, wanted: tuple[str, ...] | None, prunable: list[str], what: str) -> list[str]:
    """Validate ``--layers`` against the model; ``None`` selects every prunable layer."""
    if not prunable:
        classes = ", ".join(sorted({layer.__class__.__name__ for layer in model.layers})) or "none"
        raise UnsupportedLayerError(f"model has no layer that {what} can prune (its layers: {classes})")
    if wanted is None:
        return list(prunable)
    names = {layer.name: layer for layer in model.layers}
    for name in wanted:
        if name not in names:
            raise InputError(f"--layers: model has no layer named '{name}'; its layers: {', '.join(names)}")
        if name not in prunable:
            raise UnsupportedLayerError(
                f"--layers: layer '{name}' ({names[name].__class__.__name__}) cannot be pruned by {what}; "
                f"prunable layers: {', '.join(prunable)}"
            )
    return [n for n in prunable if n in wanted]


@functools.lru_cache(maxsize=1)
def _prunable_classes() -> tuple[Any, Any]:
    tfk = _tf.tf_keras()

    class PrunableBidirectional(tfk.layers.Bidirectional):
        """Bidirectional whose forward and backward cell kernels tfmot may prune."""

        def get_prunable_weights(self) -> list[Any]:
            out = []
            for rnn in (self.forward_layer, self.backward_layer):
                out += [rnn.cell.kernel, rnn.cell.recurrent_kernel]
            return out

    class PrunableTimeDistributed(tfk.layers.TimeDistributed):
        """TimeDistributed whose wrapped layer's kernel tfmot may prune."""

        def get_prunable_weights(self) -> list[Any]:
            return [self.layer.kernel]

    return PrunableBidirectional, PrunableTimeDistributed


@functools.lru_cache(maxsize=1)
def _mask_keeping_wrapper() -> Any:
    """tfmot's PruneLowMagnitude, but passing the wrapped layer's output mask on.

    The stock wrapper drops Keras masks: an ``Embedding(mask_zero=True)`` or a masked
    ``LSTM(return_sequences=True)`` inside it would fine-tune the rest of the model on
    padding, and stripping would then change predictions. The class keeps tfmot's name so
    layer names (``prune_low_magnitude_<layer>``) and ``strip_pruning`` work unchanged.
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    class PruneLowMagnitude(pruning_wrapper.PruneLowMagnitude):
        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return self.layer.compute_mask(inputs, mask)

    return PruneLowMagnitude


def _fresh(layer: Any, prunable: bool) -> Any:
    bidirectional, time_distributed = _prunable_classes()
    cls = layer.__class__
    if prunable and cls.__name__ == "Bidirectional":
        cls = bidirectional
    elif prunable and cls.__name__ == "TimeDistributed":
        cls = time_distributed
    return cls.from_config(layer.get_config())


def prunable_weights(layer: Any) -> list[tuple[str, Any]]:
    """``(label, variable)`` pairs magnitude pruning zeroes in ``layer`` (the tfmot wrappers' rules)."""
    cls = layer.__class__.__name__
    if cls == "Bidirectional":
        return [
            (f"{side}_{attr}", getattr(rnn.cell, attr))
            for side, rnn in (("forward", layer.forward_layer), ("backward", layer.backward_layer))
            for attr in ("kernel", "recurrent_kernel")
        ]
    if cls == "TimeDistributed":
        return [("kernel", layer.layer.kernel)]
    if cls in ("LSTM", "GRU", "SimpleRNN"):
        return [("kernel", layer.cell.kernel), ("recurrent_kernel", layer.cell.recurrent_kernel)]
    if cls == "Embedding":
        return [("embeddings", layer.embeddings)]
    return [("kernel", layer.kernel)]


@dataclass
class MagnitudeResult:
    """A stripped tf_keras model plus what happened on the way."""

    model: Any
    layers: list[str]
    schedule: ScheduleSpec
    run: fit.FitRun | None = None
    sparsity: dict[str, float] = field(default_factory=dict)  # "layer/weight" -> achieved


def _mask_sparsity(wrappers: list[Any]) -> float:
    masks = [np.asarray(mask) for w in wrappers for _, mask, _ in w.pruning_vars]
    total = sum(m.size for m in masks)
    return float(1.0 - sum(float(m.sum()) for m in masks) / total) if total else 0.0


def magnitude_prune(model: Any, dataset: Dataset, config: PruneConfig, progress: Progress | None = None) -> MagnitudeResult:
    """Prune a tf_keras ``model`` to ``config.sparsity`` with tfmot while fine-tuning; never modifies ``model``.

    The budget is :func:`~lstm_deploy.compress.budget.plan_budget` of the config; the masks
    are final after the first ``PRUNE_WINDOW`` of it, and the rest is recovery, checked on the
    validation split (best weights kept, early stopping, distillation from ``model``).

    Raises:
        UnsupportedLayerError: no prunable layer, or ``--layers`` names one that is not prunable.
        StageError: a pruned weight ended below its target sparsity (should not happen).

    Example:
        >>> res = magnitude_prune(model, ds, PruneConfig(sparsity=0.5, steps=200))  # doctest: +SKIP
        >>> res.run.best_step >= res.schedule.end_step                               # doctest: +SKIP
        True
    """
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    tfk = _tf.tf_keras()
    selected = select_layers(model, config.layers, prunable_layer_names(model), "magnitude pruning")
    data = fit.Split(*holdout.choose(dataset, config.seed).fit_arrays())  # the one selection rule
    budget = config.budget(rows(data.x_train))
    schedule = derive_schedule(config.schedule, config.sparsity, budget.steps, budget.steps_per_epoch)
    tf_schedule = schedule.to_tfmot()

    mask_keeping = _mask_keeping_wrapper()

    def wrap(layer: Any) -> Any:
        if layer.name in selected:
            return mask_keeping(_fresh(layer, True), pruning_schedule=tf_schedule)
        return _fresh(layer, False)

    with training_strategy().scope():  # Mirrored / MultiWorker when GPUs or TF_CONFIG say so
        wrapped = tfk.models.clone_model(model, clone_function=wrap)
        for layer in model.layers:
            _inner(wrapped, layer.name).set_weights(layer.get_weights())
        probe = fit.predict(wrapped, take(data.x_train, slice(0, 16)))
        train_targets, loss = fit.fit_targets(dataset, data.y_train, probe, fit.predict(model, data.x_train), config.distill)
        fit.compile_for(wrapped, dataset, config.learning_rate, loss=loss)
    wrappers = [layer for layer in wrapped.layers if isinstance(layer, pruning_wrapper.PruneLowMagnitude)]
    run = fit.finetune(
        wrapped, data, train_targets, budget, score=fit.val_scorer(dataset, data, probe), task=dataset.task,
        batch_size=config.batch_size, patience=config.patience, seed=config.seed, start_step=schedule.end_step,
        reference=fit.evaluate(model, dataset, data.x_val, data.y_val), callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        extras=lambda _m: {"sparsity": round(_mask_sparsity(wrappers), 4)}, progress=progress,
        label=f"prune magnitude {config.sparsity:.0%}",
    )
    for w in wrappers:
        w.pruning_obj.weight_mask_op()  # the last optimizer step moved masked weights off zero
    steps = {int(np.asarray(w.pruning_step)) for w in wrappers}
    reference = fit.predict(wrapped, take(dataset.x_test, slice(0, 64)))
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    clean = tfk.models.clone_model(model)
    for layer in model.layers:
        clean.get_layer(layer.name).set_weights(stripped.get_layer(layer.name).get_weights())
    diff = float(np.max(np.abs(fit.predict(clean, take(dataset.x_test, slice(0, 64))) - reference)))
    if diff > 1e-5:
        raise StageError(f"stripping the pruning wrappers changed predictions by {diff:.2e} (> 1e-5)")
    achieved = _check_sparsity(clean, selected, config.sparsity, steps)
    return MagnitudeResult(clean, selected, schedule, run, achieved)


def _inner(wrapped: Any, name: str) -> Any:
    try:
        return wrapped.get_layer(name)
    except ValueError:
        return wrapped.get_layer(f"prune_low_magnitude_{name}").layer


def _check_sparsity(model: Any, selected: list[str], target: float, steps: set[int]) -> dict[str, float]:
    achieved: dict[str, float] = {}
    for name in selected:
        for label, var in prunable_weights(model.get_layer(name)):
            w = np.asarray(var)
            kept = max(round(w.size * (1.0 - target)), 1)  # tfmot keeps round(n * (1 - s)), at least 1
            expected = 1.0 - kept / w.size
            got = float(np.mean(w == 0))
            key = f"{name}/{label}"
            if got + 1.0 / w.size < expected:
                raise StageError(
                    f"layer '{name}' weight {key} reached {got:.1%} sparsity, below the {expected:.1%} target "
                    f"after {max(steps, default=0)} pruning steps"
                )
            achieved[key] = got
    return achieved
