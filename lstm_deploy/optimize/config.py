"""The one configuration of a deployment search (library, ``lstm-deploy optimize`` and the recipe ``optimize:`` stage).

Example:
    >>> cfg = OptimizeConfig(max_metric_drop=0.01, objective="size")
    >>> cfg.trials, cfg.time_budget, cfg.format
    (None, 20.0, 'any')
    >>> OptimizeConfig(objective="speed")
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --objective: Input should be 'latency' or 'size' (got 'speed')
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..config import StageConfig

Objective = Literal["latency", "size"]
FormatChoice = Literal["onnx", "tflite", "any"]
Positive = Annotated[int, Field(ge=1)]


class OptimizeConfig(StageConfig):
    """What to search for, within which budget, and how each trial is run.

    Attributes:
        max_metric_drop: the accuracy budget: the largest drop of the primary metric against the
            original model, in its own unit (0.01 = one accuracy point; RMSE in target units).
            Judged on the selection rows during the search and on the confirmation rows for the
            finalists (:mod:`lstm_deploy.compress.holdout`: ``x_val`` selects and ``x_test`` confirms, or
            ``x_test`` is split in two halves; never rows the model trained on).
        objective: ``latency`` (p50 at ``batch_size``, the trial's thread count) or ``size``
            (gzip bytes of the artifact file).
        format: restrict the artifacts to ``onnx`` or ``tflite``; ``any`` searches both.
        trials: a cap on the trials to finish (a resumed study counts the ones it already has);
            ``None``: the time budget alone bounds the search. Identical configurations never
            run twice (a repeat is answered from the first run and not counted).
        time_budget: minutes for the whole search, final scoring included; no trial starts
            that would probably not finish in time.
        storage: an Optuna storage URL (``sqlite:///study.db``) that makes the search resumable.
        study_name: the study's name in ``storage`` (default: derived from the model and settings).
        ray_address: run trials on a Ray cluster (``auto`` or ``HOST:PORT``), as many at once as it has CPUs.
        threads: CPU thread counts to choose from (a search dimension when more than one).
        batch_size: sequences per call when measuring latency.
        per_layer_units: search the fraction of units kept per LSTM layer instead of one global fraction.
        min_units_kept: the smallest fraction of LSTM units a trial may keep.
        finetune_steps: optimizer steps of each prune fine-tune (``PruneConfig.steps``): a budget in
            steps means the same on 300 or 30,000 sequences.
        qat_steps: optimizer steps of QAT (``QatConfig.steps``), run when post-training quantization
            loses more than the budget; 0 never runs QAT.
        recovery_margin: a trial stops early when, after a compression step's fine-tune, the validation
            drop exceeds ``max_metric_drop + recovery_margin`` (no later step can win that back).
        finalists: candidates confirmed per round: the best by their selection-row objective; when
            none keeps the budget on the confirmation rows, the next ones are confirmed.
        val_fraction: unused (kept so older recipes parse): selection rows never come from ``x_train``.
        seed: seed of the split, the sampler and every fine-tune.
    """

    stage: Literal["optimize"] = "optimize"
    max_metric_drop: float = Field(default=0.01, ge=0.0)
    objective: Objective = "latency"
    format: FormatChoice = "any"
    trials: int | None = Field(default=None, ge=1)
    time_budget: float | None = Field(default=20.0, gt=0.0)
    storage: str | None = None
    study_name: str | None = None
    ray_address: str | None = None
    threads: tuple[Positive, ...] = Field(default=(1,), min_length=1)
    batch_size: int = Field(default=1, ge=1)
    per_layer_units: bool = False
    min_units_kept: float = Field(default=0.1, gt=0.0, le=1.0)
    finetune_steps: int = Field(default=300, ge=1)
    qat_steps: int = Field(default=150, ge=0)
    recovery_margin: float = Field(default=0.05, ge=0.0)
    finalists: int = Field(default=3, ge=1)
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> "OptimizeConfig":
        if self.trials is None and self.time_budget is None:
            raise ValueError("--trials / --time-budget: give at least one of them; nothing would end the search")
        if self.storage is not None and "://" not in self.storage:
            raise ValueError(f"--storage: expected a database URL such as sqlite:///study.db, got {self.storage!r}")
        return self

    def artifact_choices(self) -> list[tuple[str, str]]:
        """Every (format, quantization) the search may pick, in a stable order."""
        from ..export.convert import FORMATS

        formats = ("onnx", "tflite") if self.format == "any" else (self.format,)
        return [(fmt, q) for fmt in formats for q in FORMATS[fmt].quantizations]
