"""One set-up ARM64 environment on disk, and the code that runs inside it.

Layout of ``<cache>/<key>/`` (:func:`~.pins.cache_root`, :func:`~.pins.env_key`)::

    qemu/qemu-aarch64     qemu >= 10, from Debian bookworm-backports' qemu-user (static)
    sysroot/              Debian bookworm arm64 CPython 3.11 and its libraries (dpkg-deb -x)
    site/                 aarch64 wheels (numpy, ai-edge-litert, onnxruntime + deps), pip --target
    env.json              what is there and where it came from; written last (its presence = complete)

Example:
    >>> env = find_env()                          # doctest: +SKIP
    >>> env.command("cortex-a76")[:3]             # doctest: +SKIP
    ['/root/.cache/lstm-deploy/arm64/cp311-.../qemu/qemu-aarch64', '-cpu', 'cortex-a76']
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Arm64Unavailable
from .pins import PYTHON, cache_root, env_key, host_versions
from .qemu import checked_version

MANIFEST = "env.json"


@dataclass(frozen=True)
class Arm64Env:
    """A complete environment: where qemu, the sysroot and the wheels are, and what versions they hold."""

    root: Path
    info: dict[str, Any]

    @property
    def qemu(self) -> Path:
        return Path(self.info["qemu"]["path"])

    @property
    def sysroot(self) -> Path:
        return self.root / "sysroot"

    @property
    def site(self) -> Path:
        return self.root / "site"

    @property
    def python(self) -> Path:
        return self.sysroot / "usr" / "bin" / f"python{PYTHON}"

    def command(self, cpu: str) -> list[str]:
        """The argv prefix that runs the emulated Python on CPU model ``cpu`` (append a script and its arguments)."""
        return [str(self.qemu), "-cpu", cpu, "-L", str(self.sysroot), str(self.python), "-s", "-E"]

    def describe(self) -> dict[str, Any]:
        """A short summary for reports: qemu version and the pinned wheel versions."""
        return {"root": str(self.root), "qemu": self.info["qemu"]["version"], "python": self.info.get("python"),
                "wheels": self.info.get("wheels", {}), "plugins": False}


def cpu_models(env: Arm64Env) -> list[str]:
    """CPU models this qemu emulates (``qemu-aarch64 -cpu help``)."""
    import subprocess

    out = subprocess.run([str(env.qemu), "-cpu", "help"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in out.stdout.splitlines()[1:] if line.strip()]


def check_cpus(env: Arm64Env, cpus: tuple[str, ...] | list[str], option: str) -> None:
    """Raise :class:`~lstm_deploy.errors.InputError` naming ``option`` when a CPU model is not one qemu emulates."""
    from ..errors import InputError

    known = cpu_models(env)
    unknown = [c for c in cpus if c not in known]
    if unknown or not cpus:
        raise InputError(f"{option}: expected CPU models qemu {env.info['qemu']['version']} emulates ({', '.join(known)}), "
                         f"got {', '.join(unknown) or 'none'}")


def env_dir() -> Path:
    """Where the environment for this host's versions lives (whether or not it exists yet)."""
    return cache_root() / env_key(host_versions())


def find_env() -> Arm64Env:
    """The set-up environment for this host's versions, its qemu re-checked; :class:`Arm64Unavailable` when absent."""
    root = env_dir()
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise Arm64Unavailable(f"no ARM64 environment at {root}; run 'lstm-deploy arm64 setup' first (about 130 MB of downloads)")
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise Arm64Unavailable(f"{manifest} is unreadable ({exc}); delete {root} and run 'lstm-deploy arm64 setup' again") from None
    env = Arm64Env(root, info)
    checked_version(env.qemu)  # the binary on disk, not what the manifest remembers
    if not env.python.is_file():
        raise Arm64Unavailable(f"{env.python} is missing; delete {root} and run 'lstm-deploy arm64 setup' again")
    return env


# ---------------------------------------------------------------- the TF-free runtime put on the emulated PYTHONPATH

RUNTIME_PACKAGE = "lstm_deploy_runtime"


def runtime_source_dir() -> Path:
    """The folder to put on the emulated PYTHONPATH so that ``import lstm_deploy_runtime`` finds the TF-free runtime.

    The one place that decides which runtime code runs under emulation: the standalone
    ``lstm_deploy_runtime`` package (the repository's ``runtime/`` folder, or the installed
    ``lstm-deploy-runtime`` distribution that ``lstm-deploy`` depends on).
    """
    repo_runtime = Path(__file__).resolve().parents[2] / "runtime"
    if (repo_runtime / RUNTIME_PACKAGE / "__init__.py").is_file():
        return repo_runtime
    spec = importlib.util.find_spec(RUNTIME_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).parent
    raise Arm64Unavailable("the lstm-deploy-runtime distribution is not installed; pip install ./runtime (make install does)")
