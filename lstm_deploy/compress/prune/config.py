"""The frozen, validated configuration of one pruning run.

Example:
    >>> cfg = PruneConfig(sparsity=0.8, method="magnitude", epochs=3)
    >>> cfg.schedule
    'polynomial'
    >>> PruneConfig(sparsity=1.5)
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --sparsity: expected a number in [0, 1), got 1.5; e.g. 0.8 removes 80 %
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ...errors import InputError

Method = Literal["magnitude", "units"]
Schedule = Literal["constant", "polynomial"]
METHODS = ("magnitude", "units")
SCHEDULES = ("constant", "polynomial")


@dataclass(frozen=True)
class PruneConfig:
    """What to prune and how to fine-tune afterwards.

    Attributes:
        sparsity: fraction of weights (magnitude) or LSTM units (units) to remove, in [0, 1).
            With ``max_metric_drop`` it is the highest sparsity the search tries.
        method: ``"magnitude"`` (tfmot, unstructured) or ``"units"`` (whole LSTM units).
        schedule: magnitude only: ``"constant"`` (target from the first step) or ``"polynomial"``
            (0 -> target over the first ~60 % of fine-tuning steps).
        layers: names of the layers to prune; ``None`` prunes every prunable layer.
        per_layer: units only: remove ``sparsity`` of each layer's units instead of a global ranking.
        epochs: fine-tuning epochs (>= 1); 0 skips fine-tuning (units only).
        batch_size, learning_rate: fine-tuning optimizer settings (Adam).
        patience: early-stopping patience in epochs, counted once the target sparsity is in place.
        max_metric_drop: when set, search for the highest sparsity <= ``sparsity`` whose metric
            drop on the test set is <= this (accuracy points for classification, RMSE increase
            for regression).
        search_steps: bisection steps of that search.
        val_fraction: share of train held out for early stopping when the data has no ``x_val``.
        seed: seed for the split and TensorFlow's initial state.
    """

    sparsity: float
    method: Method = "magnitude"
    schedule: Schedule = "polynomial"
    layers: tuple[str, ...] | None = None
    per_layer: bool = False
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 3
    max_metric_drop: float | None = None
    search_steps: int = 4
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        s = self.sparsity
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or not 0.0 <= s < 1.0:
            raise InputError(f"--sparsity: expected a number in [0, 1), got {s!r}; e.g. 0.8 removes 80 %")
        if self.method not in METHODS:
            raise InputError(f"--method: expected one of {', '.join(METHODS)}, got {self.method!r}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"--schedule: expected one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.layers is not None:
            if isinstance(self.layers, str) or not all(isinstance(n, str) and n for n in self.layers) or not self.layers:
                raise InputError(f"--layers: expected a non-empty list of layer names, got {self.layers!r}")
        min_epochs = 0 if self.method == "units" else 1
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < min_epochs:
            raise InputError(
                f"--epochs: expected an integer >= {min_epochs} for --method {self.method}, got {self.epochs!r}"
                + ("; magnitude pruning needs training steps to apply its masks" if self.method == "magnitude" else "")
            )
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch_size: expected a positive integer, got {self.batch_size!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise InputError(f"learning_rate: expected a positive number, got {self.learning_rate!r}")
        if not isinstance(self.patience, int) or self.patience < 1:
            raise InputError(f"patience: expected a positive integer, got {self.patience!r}")
        if self.max_metric_drop is not None:
            d = self.max_metric_drop
            if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d) or d < 0:
                raise InputError(f"--max-metric-drop: expected a number >= 0, got {d!r}")
            if self.sparsity == 0:
                raise InputError("--max-metric-drop: needs --sparsity > 0 as the highest sparsity to search; got 0")
        if not isinstance(self.search_steps, int) or self.search_steps < 1:
            raise InputError(f"search_steps: expected a positive integer, got {self.search_steps!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise InputError(f"val_fraction: expected a number in (0, 1), got {self.val_fraction!r}")

    def with_sparsity(self, sparsity: float) -> "PruneConfig":
        """Return a copy at another sparsity, without the search (used by the search itself)."""
        from dataclasses import replace

        return replace(self, sparsity=sparsity, max_metric_drop=None)
