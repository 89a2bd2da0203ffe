"""ARM64 (phone CPU class) runs of exported artifacts on an x86-64 host, by qemu user-mode emulation.

Public API:

- :func:`setup_env` ``(*, qemu=None, force=False, progress=True) -> Arm64Env`` (``lstm-deploy arm64 setup``)
- :func:`find_env` ``() -> Arm64Env`` / :func:`status` ``() -> dict`` (``lstm-deploy arm64 status``)
- :func:`run_artifacts` ``(env, paths, x, cpu) -> EmulatedRun``: every artifact through the TF-free runtime, emulated
- :data:`CPUS`: the CPU models checked by default; :class:`Arm64Unavailable`: why it cannot run here

See docs/arm64.md for what an emulated run proves and what it does not.
"""

from .emulate import EmulatedRun, run_artifacts
from .env import Arm64Env, find_env, runtime_source_dir
from .errors import Arm64Unavailable
from .pins import CPUS
from .setup import setup_env, status

__all__ = ["CPUS", "Arm64Env", "Arm64Unavailable", "EmulatedRun", "find_env", "run_artifacts", "runtime_source_dir", "setup_env", "status"]
