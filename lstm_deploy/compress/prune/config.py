"""The one configuration of a pruning run (library, ``lstm-deploy prune`` and the recipe ``prune:`` stage).

Example:
    >>> cfg = PruneConfig(sparsity=0.8, method="magnitude", epochs=3)
    >>> cfg.schedule
    'polynomial'
    >>> PruneConfig(sparsity=1.5)
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --sparsity: Input should be less than 1 (got 1.5)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...config import StageConfig

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
            (0 -> target over the first ~60 % of fine-tuning steps).
        layers: names of the layers to prune; ``None`` prunes every prunable layer.
        per_layer: units only: remove ``sparsity`` of each layer's units instead of a global ranking.
        epochs: fine-tuning epochs (>= 1 for magnitude); 0 skips fine-tuning (units only).
        batch_size, learning_rate: fine-tuning optimizer settings (Adam).
        patience: early-stopping patience in epochs, counted once the target sparsity is in place.
        max_metric_drop: when set, search for the highest sparsity <= ``sparsity`` whose metric
            drop stays <= this, in the primary metric's unit (0.01 = one accuracy point; RMSE in
            target units). Judged on the validation split, never the test set.
        search_steps: bisection steps of that search.
        val_fraction: share of train held out for early stopping when the data has no ``x_val``.
        seed: seed for the split and TensorFlow's initial state.
    """

    stage: Literal["prune"] = "prune"
    sparsity: float = Field(default=0.5, ge=0.0, lt=1.0)
    method: Method = "magnitude"
    schedule: Schedule = "polynomial"
    layers: tuple[str, ...] | None = Field(default=None, min_length=1)
    per_layer: bool = False
    epochs: int = Field(default=10, ge=0)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    patience: int = Field(default=3, ge=1)
    max_metric_drop: float | None = Field(default=None, ge=0.0)
    search_steps: int = Field(default=4, ge=1)
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> "PruneConfig":
        if self.method == "magnitude" and self.epochs < 1:
            raise ValueError(f"--epochs: expected an integer >= 1 for --method magnitude, got {self.epochs}; "
                             "magnitude pruning needs training steps to apply its masks")
        if self.max_metric_drop is not None and self.sparsity == 0:
            raise ValueError("--max-metric-drop: needs --sparsity > 0 as the highest sparsity to search; got 0")
        return self

    def with_sparsity(self, sparsity: float) -> "PruneConfig":
        """A copy at another sparsity, without the search (used by the search itself)."""
        return self.replace(sparsity=sparsity, max_metric_drop=None)  # type: ignore[return-value]
