"""``optimize``: search pruning x quantization x format x threads for the fastest or smallest
deployable artifact of a Keras LSTM model within an accuracy budget.

Public API:

* :func:`optimize_model` ``(model_path, data, out_dir, config) -> OptimizeResult``;
* :class:`OptimizeConfig` (the one schema of the search: library, CLI, recipe ``optimize:`` stage);
* :class:`SearchSpace`, :class:`Candidate` (what a model's search explores), :func:`run_trial`.

Optuna and (with ``ray_address``) Ray are imported only when a search runs.

Example:
    >>> from lstm_deploy.optimize import OptimizeConfig, optimize_model                    # doctest: +SKIP
    >>> res = optimize_model("model.keras", "d.npz", "opt", OptimizeConfig(max_metric_drop=0.01))   # doctest: +SKIP
    >>> res.report["best"]["artifact"], res.report["best"]["speedup"]                       # doctest: +SKIP
    ('model.dynamic.onnx', 7.1)
"""

from __future__ import annotations

from .api import OptimizeResult, optimize_model
from .config import OptimizeConfig
from .space import Candidate, SearchSpace
from .trial import TrialOutcome, TrialSetup, run_trial

__all__ = ["Candidate", "OptimizeConfig", "OptimizeResult", "SearchSpace", "TrialOutcome", "TrialSetup", "optimize_model", "run_trial"]
