"""``cross_check(env, paths, x, cpus)``: each artifact on each emulated CPU against the same artifact on x86.

Both sides run the TF-free runtime's ``Model.load(path, num_threads=threads, preprocess=False).predict(x)``
with the same inputs, so the batch composition and the thread count are the same (ONNX
Runtime's dynamic quantization differs with either, even on x86 alone). The x86 side runs
here, in this process; the ARM64 side in one emulated process per CPU model. ``x`` is what the
artifact takes (as in the benchmark and export's parity check): a manifest's preprocessing is not applied again.

Example:
    >>> checks = cross_check(find_env(), ["m.int8.tflite"], x, ("cortex-a76",))     # doctest: +SKIP
    >>> checks[0].artifacts["m.int8.tflite"].bit_exact                              # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .emulate import run_artifacts
from .env import Arm64Env


@dataclass(frozen=True)
class ArtifactCheck:
    """One artifact on one emulated CPU: its ARM64 outputs and how far they are from x86's."""

    outputs: np.ndarray | None
    x86: np.ndarray
    emulated_s: float | None
    error: str | None = None

    @property
    def max_abs_diff(self) -> float | None:
        return None if self.outputs is None else float(np.max(np.abs(self.outputs.astype(np.float64) - self.x86), initial=0.0))

    @property
    def bit_exact(self) -> bool | None:
        return None if self.outputs is None else bool(np.array_equal(self.outputs, self.x86))

    @property
    def argmax_agreement_x86(self) -> float | None:
        if self.outputs is None or self.x86.ndim < 2 or self.x86.shape[-1] < 2:
            return None
        return float(np.mean(self.outputs.argmax(-1) == self.x86.argmax(-1)))


@dataclass(frozen=True)
class CpuCheck:
    """Every artifact on one emulated CPU model."""

    cpu: str
    machine: str  # what the emulated Python's platform.machine() said (aarch64)
    features: list[str]
    wall_s: float
    perturbed: bool
    artifacts: dict[str, ArtifactCheck]


#: CPU features worth naming in a report (what separates the phone-class kernels).
NOTABLE = ("asimd", "asimddp", "i8mm", "bf16", "sve", "sve2", "sme")


def x86_outputs(paths: Sequence[str | Path], x: Any, threads: int = 1) -> dict[str, np.ndarray]:
    """Each artifact on this host through :class:`lstm_deploy.runtime.Model` (what the emulated side runs too)."""
    from ..runtime import Model

    return {str(p): np.asarray(Model.load(p, num_threads=threads, require_manifest=False, preprocess=False).predict(x)) for p in paths}


def cross_check(env: Arm64Env, paths: Sequence[str | Path], x: Any, cpus: Sequence[str], *, threads: int = 1,
                say: Callable[[str], None] | None = None) -> list[CpuCheck]:
    """Run ``paths`` on ``x`` on x86 and on every CPU model of ``cpus``; one :class:`CpuCheck` per CPU."""
    note = say or (lambda _msg: None)
    host = x86_outputs(paths, x, threads)
    checks = []
    for cpu in cpus:
        note(f"arm64: running {len(paths)} artifact(s) on an emulated {cpu}")
        run = run_artifacts(env, paths, x, cpu, threads=threads)
        per = {str(p): ArtifactCheck(run.outputs.get(str(p)), host[str(p)], run.seconds.get(str(p)), run.errors.get(str(p))) for p in paths}
        checks.append(CpuCheck(cpu, run.machine, [f for f in run.features if f in NOTABLE], run.wall_s, run.perturbed, per))
    return checks
