"""Fine-tuning budgets counted in optimizer steps, with a floor that small data sets reach.

An epoch is meaningless as a unit of work: 270 training sequences at batch 32 are 9
steps an epoch, 10 000 are 313. So the budget is a number of optimizer steps: by default
``AUTO_EPOCHS`` epochs, but never fewer than ``MIN_STEPS`` (small sets need many passes to
recover) nor more than ``MAX_STEPS`` (large sets recover within a few epochs, and a
default command must stay fast). ``--steps`` or ``--epochs`` override it exactly. The
run is checked on the validation split ``CHECKS`` times (every ``eval_every`` steps):
that is where progress is reported, the best weights are kept and early stopping looks.

Example:
    >>> b = plan_budget(270, 32)
    >>> (b.steps, b.eval_every, b.steps_per_epoch, b.source)
    (600, 30, 9, 'default: 10 epochs (90 steps), raised to the 600-step floor')
    >>> plan_budget(270, 32, epochs=4).steps
    36
    >>> plan_budget(10_000, 32).steps
    1500
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError

AUTO_EPOCHS = 10
MIN_STEPS = 600
MAX_STEPS = 1500
CHECKS = 20


@dataclass(frozen=True)
class Budget:
    """How long a fine-tune runs and how often it is checked on the validation split."""

    steps: int
    steps_per_epoch: int
    eval_every: int
    source: str

    @property
    def checks(self) -> int:
        """Validation checks in the run (one every ``eval_every`` steps; the last one at ``steps``)."""
        return self.steps // self.eval_every

    @property
    def epochs(self) -> float:
        """The budget in passes over the training split (for reports)."""
        return self.steps / self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"checks": self.checks, "epochs": round(self.epochs, 2)}


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Training steps in one epoch (the last partial batch counts)."""
    return max(1, -(-n_samples // batch_size))


def plan_budget(
    n_train: int,
    batch_size: int,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    min_steps: int = MIN_STEPS,
    max_steps: int = MAX_STEPS,
    checks: int = CHECKS,
) -> Budget:
    """The step budget for ``n_train`` training samples (see the module docstring).

    ``steps`` wins over ``epochs``; both are exact (no floor; 0 means no fine-tuning). The
    total is rounded to a whole number of checks (at most ``checks - 1`` steps more than asked).

    Raises:
        InputError: a negative budget.
    """
    per_epoch = steps_per_epoch(n_train, batch_size)
    if steps is not None:
        total, source = steps, f"--steps {steps}"
    elif epochs is not None:
        total, source = epochs * per_epoch, f"--epochs {epochs} ({epochs * per_epoch} steps)"
    else:
        auto = AUTO_EPOCHS * per_epoch
        total = min(max(auto, min_steps), max_steps)
        source = f"default: {AUTO_EPOCHS} epochs ({auto} steps)"
        if total > auto:
            source += f", raised to the {min_steps}-step floor"
        elif total < auto:
            source += f", capped at {max_steps} steps"
    if total < 0:
        raise InputError(f"--steps: expected a budget of at least 0 optimizer steps, got {total}")
    if total == 0:  # no fine-tuning (units pruning / QAT snap only)
        return Budget(0, per_epoch, 1, source)
    every = max(1, math.ceil(total / checks))
    total = every * math.ceil(total / every)
    return Budget(total, per_epoch, every, source)
