"""The one configuration of a benchmark run (library, ``lstm-deploy benchmark`` and the recipe ``benchmark:`` stage).

Example:
    >>> BenchConfig(batch_sizes=(1, 32)).repeats
    100
    >>> BenchConfig(threads=(0,))
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --threads: Input should be greater than or equal to 1 (got 0)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..arm64.pins import CPUS as ARM64_CPUS
from ..config import StageConfig

Positive = Annotated[int, Field(ge=1)]


class BenchConfig(StageConfig):
    """How to measure. Defaults keep a 6-artifact report under 2 minutes on 2 cores.

    Attributes:
        runtimes: registered names or groups (``all``, ``keras``, ``gpu``, ...).
        batch_sizes: sequences per call; each is timed separately.
        threads: CPU thread counts to pin (intra-op threads / LiteRT ``num_threads``).
        warmup: untimed calls before timing, per configuration.
        repeats: timed calls per configuration, at least (fewer only when ``max_seconds`` runs
            out, never fewer than 5; more when they take under ``min_seconds``).
        min_seconds: fast configurations keep being timed until this much time has passed.
        max_seconds: time budget for the warm-up and for the timed calls of one configuration.
        seed: selects the timing sequences from ``x_test`` (same for every runtime).
        eval_samples: cap on ``x_test`` samples for the task metric (None = all).
        timeout_s: a worker running longer becomes an ``error`` row.
        adb_serial: also run LiteRT's benchmark_model on this Android device.
        adb_binary: local benchmark_model binary to push (else it must be on the device).
        include_keras: in a recipe, also time the Keras model the artifacts came from.
        max_metric_drop: budget of the recommendation, as export's: accuracy drop as a fraction
            (0.01 = one point, the default) or RMSE increase in target units (default 5 % of the source RMSE).
        arch: also run every artifact on these emulated architectures (``arm64``: docs/arm64.md).
        arm64_cpus: qemu CPU models of the ARM64 rows.
        arm64_samples: evaluation samples run under emulation (emulation is slow).
    """

    stage: Literal["benchmark"] = "benchmark"
    runtimes: tuple[str, ...] = Field(default=("all",), min_length=1)
    batch_sizes: tuple[Positive, ...] = Field(default=(1,), min_length=1)
    threads: tuple[Positive, ...] = Field(default=(1,), min_length=1)
    warmup: int = Field(default=10, ge=0)
    repeats: int = Field(default=100, ge=1)
    min_seconds: float = Field(default=0.5, ge=0.0)
    max_seconds: float = Field(default=2.0, gt=0.0)
    seed: int = 0
    eval_samples: int | None = Field(default=None, ge=1)
    timeout_s: float = Field(default=600.0, gt=0.0)
    adb_serial: str | None = None
    adb_binary: str | None = None
    include_keras: bool = True
    max_metric_drop: float | None = Field(default=None, ge=0.0)
    arch: tuple[Literal["arm64"], ...] = ()
    arm64_cpus: tuple[str, ...] = Field(default=ARM64_CPUS, min_length=1)
    arm64_samples: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _budget(self) -> "BenchConfig":
        if self.min_seconds > self.max_seconds:
            raise ValueError(f"timing budget: expected min_seconds <= max_seconds, got {self.min_seconds} > {self.max_seconds}")
        return self
