"""The one configuration of a pruning run (library, ``lstm-deploy prune`` and the recipe ``prune:`` stage).

Example:
    >>> cfg = PruneConfig(sparsity=0.8, method="magnitude")
    >>> cfg.schedule, cfg.budget(270).steps
    ('polynomial', 600)
    >>> PruneConfig(sparsity=0.8, steps=100).budget(270).steps
    100
    >>> PruneConfig(sparsity=1.5)
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --sparsity: Input should be less than 1 (got 1.5)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...config import StageConfig
from ..budget import MAX_STEPS, MIN_STEPS, Budget, plan_budget

Method = Literal["magnitude", "units"]
Schedule = Literal["constant", "polynomial"]
METHODS = ("magnitude", "units")
SCHEDULES = ("constant", "polynomial")


class PruneConfig(StageConfig):
    """What to prune and how to fine-tune afterwards.

    Attributes:
        sparsity: fraction of weights (magnitude) or LSTM units (units) to remove, in [0, 1).
            With ``max_metric_drop`` it is the highest sparsity the search tries.
        method: ``"magnitude"`` (tfmot, unstructured) or ``"units"`` (whole LSTM units).
        schedule: magnitude only: ``"constant"`` (target from the first step) or ``"polynomial"``
            (0 -> target over the first ~40 % of the fine-tuning steps; the rest is recovery).
        layers: names of the layers to prune; ``None`` prunes every prunable layer.
        per_layer: units only: remove ``sparsity`` of each layer's units instead of a global ranking.
        steps: the fine-tuning budget in optimizer steps, exactly (0 skips fine-tuning: units only).
        epochs: the budget in epochs, exactly (used when ``steps`` is not set).
        min_steps, max_steps: bounds of the default budget (10 epochs, at least ``min_steps``
            -- small data sets need many passes to recover -- and at most ``max_steps``).
        batch_size, learning_rate: fine-tuning optimizer settings (Adam).
        patience: early stopping: validation checks (20 per run) without a new best, counted
            once the target sparsity is in place.
        distill: weight of the original model's outputs in the training targets (0 = labels
            only, 1 = the original model only); see :func:`lstm_deploy.compress.fit.fit_targets`.
        max_metric_drop: when set, search for the highest sparsity <= ``sparsity`` whose metric
            drop stays <= this, in the primary metric's unit (0.01 = one accuracy point; RMSE in
            target units). Judged on the selection rows (x_val or half of x_test), never training rows.
        search_steps: bisection steps of that search.
        val_fraction: unused (kept so older recipes parse): early stopping selects on ``x_val`` or half of
            ``x_test``, never on training rows (:mod:`lstm_deploy.compress.holdout`).
        seed: seed for the split and TensorFlow's initial state.
    """

    stage: Literal["prune"] = "prune"
    sparsity: float = Field(default=0.5, ge=0.0, lt=1.0)
    method: Method = "magnitude"
    schedule: Schedule = "polynomial"
    layers: tuple[str, ...] | None = Field(default=None, min_length=1)
    per_layer: bool = False
    steps: int | None = Field(default=None, ge=0)
    epochs: int | None = Field(default=None, ge=0)
    min_steps: int = Field(default=MIN_STEPS, ge=1)
    max_steps: int = Field(default=MAX_STEPS, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    patience: int = Field(default=5, ge=1)
    distill: float = Field(default=0.5, ge=0.0, le=1.0)
    max_metric_drop: float | None = Field(default=None, ge=0.0)
    search_steps: int = Field(default=4, ge=1)
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> "PruneConfig":
        if self.method == "magnitude" and 0 in (self.steps, self.epochs):
            option = "--steps" if self.steps == 0 else "--epochs"
            raise ValueError(f"{option}: expected an integer >= 1 for --method magnitude, got 0; "
                             "magnitude pruning needs training steps to apply its masks")
        if self.min_steps > self.max_steps:
            raise ValueError(f"--min-steps: expected at most --max-steps ({self.max_steps}), got {self.min_steps}")
        if self.max_metric_drop is not None and self.sparsity == 0:
            raise ValueError("--max-metric-drop: needs --sparsity > 0 as the highest sparsity to search; got 0")
        return self

    def budget(self, n_train: int) -> Budget:
        """The fine-tuning budget for ``n_train`` training samples (see :mod:`lstm_deploy.compress.budget`)."""
        return plan_budget(n_train, self.batch_size, steps=self.steps, epochs=self.epochs, min_steps=self.min_steps, max_steps=self.max_steps)

    @property
    def finetunes(self) -> bool:
        """Whether this config fine-tunes at all (a budget of 0 steps or epochs does not)."""
        return self.steps > 0 if self.steps is not None else self.epochs != 0

    def with_sparsity(self, sparsity: float) -> "PruneConfig":
        """A copy at another sparsity, without the search (used by the search itself)."""
        return self.replace(sparsity=sparsity, max_metric_drop=None)  # type: ignore[return-value]
