"""Pruning for LSTM models: tfmot magnitude pruning and structured LSTM-unit removal.

Example:
    >>> from lstm_deploy.compress.prune import PruneConfig, prune_model
    >>> res = prune_model(model, dataset, PruneConfig(sparsity=0.8))        # doctest: +SKIP
    >>> res.report.achieved_sparsity >= 0.79                                # doctest: +SKIP
    True
    >>> res = prune_model(model, dataset, PruneConfig(sparsity=0.5, method="units"))  # doctest: +SKIP
    >>> res.report.speedup                                                  # doctest: +SKIP
    2.1
"""

from __future__ import annotations

from .api import PruneResult, prune_model
from .config import PruneConfig
from .magnitude import derive_schedule, magnitude_prune
from .report import PruneReport
from .units import unit_prune

__all__ = ["PruneConfig", "PruneReport", "PruneResult", "derive_schedule", "magnitude_prune", "prune_model", "unit_prune"]
