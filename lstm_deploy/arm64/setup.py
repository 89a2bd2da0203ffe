"""``setup_env()``: assemble the ARM64 environment once per user and version set (``lstm-deploy arm64 setup``).

Steps: check the host (x86-64, apt, dpkg-deb, Debian keyring) -> private apt indexes ->
resolve qemu-user (bookworm-backports), the arm64 CPython packages and the aarch64 wheels ->
download everything with one progress bar, each file checked against its SHA-256 -> unpack
into a temporary folder -> run the emulated Python once (imports numpy, LiteRT, ONNX Runtime
on a cortex-a53) -> rename the folder into place and delete the downloads. A failure leaves no environment
behind and raises :class:`Arm64Unavailable` with the reason; downloads are kept for the next try.

Example:
    >>> env = setup_env(progress=False)            # doctest: +SKIP
    >>> env.describe()["qemu"]                     # doctest: +SKIP
    '10.0.2'
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_write_text
from . import apt, wheels
from .env import MANIFEST, Arm64Env, env_dir, find_env
from .errors import Arm64Unavailable
from .fetch import download_all
from .pins import PYTHON, QEMU_PACKAGE, QEMU_SUITE, SYSROOT_PACKAGES, host_versions
from .qemu import checked_version

#: What the smoke run prints: the machine, and the versions the emulated Python imports.
SMOKE = ("import platform, numpy, onnxruntime, ai_edge_litert.interpreter as i; from importlib.metadata import version; "
         "print(platform.machine(), numpy.__version__, version('ai-edge-litert'), onnxruntime.__version__)")


def setup_env(*, qemu: str | Path | None = None, force: bool = False, progress: bool = True,
              say: Callable[[str], None] | None = None) -> Arm64Env:
    """Set up (or find) the ARM64 environment for this host's runtime versions.

    Args:
        qemu: use this qemu-aarch64 instead of downloading one (its version is checked: >= 10).
        force: rebuild even when a complete environment exists.
        progress: show the download progress bar (rich, on stderr).
        say: receives one line per step.
    """
    note = say or (lambda _msg: None)
    pins = host_versions()
    root = env_dir()
    qemu_override = Path(qemu).resolve() if qemu else None
    qemu_version = checked_version(qemu_override) if qemu_override else None  # refused before anything else happens
    with _locked(root.parent / ".lock"):  # two processes (test workers) never build the same folder at once
        return _setup_locked(root, pins, qemu_override, qemu_version, force, progress, note)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
        yield


def _setup_locked(root: Path, pins: dict[str, str], qemu_override: Path | None, qemu_version: str | None, force: bool, progress: bool,
                  note: Callable[[str], None]) -> Arm64Env:
    if not force and (root / MANIFEST).is_file():
        try:
            found = find_env()
            if qemu_override is None or found.qemu == qemu_override:
                return found
            note(f"the environment at {root} uses {found.qemu}; rebuilding it with {qemu_override}")
        except Arm64Unavailable:
            note(f"the environment at {root} is broken; rebuilding it")
    apt.check_host()
    downloads = root.parent / ".downloads"
    private = apt.PrivateApt(root.parent / ".apt")
    note("reading Debian package indexes")
    private.update()
    debs = private.remotes([f"{name}:arm64" for name in SYSROOT_PACKAGES])
    qemu_deb = [] if qemu_override else private.remotes([f"{QEMU_PACKAGE}/{QEMU_SUITE}"])
    note(f"resolving aarch64 wheels of {', '.join(f'{k}=={v}' for k, v in pins.items())}")
    wheel_files = wheels.resolve(pins)
    files = download_all(qemu_deb + debs + wheel_files, downloads, progress=progress)
    by_name = dict(zip([r.filename for r in qemu_deb + debs + wheel_files], files))

    root.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        note("unpacking")
        if qemu_override is None:
            qemu_path = apt.extract_member(by_name[qemu_deb[0].filename], "usr/bin/qemu-aarch64", build / "qemu" / "qemu-aarch64")
            qemu_version = checked_version(qemu_path)
            qemu_info = {"path": str(root / "qemu" / "qemu-aarch64"), "version": qemu_version, "package": qemu_deb[0].filename}
        else:
            qemu_info = {"path": str(qemu_override), "version": qemu_version, "package": None}
        for remote in debs:
            apt.extract(by_name[remote.filename], build / "sysroot")
        wheels.install([by_name[r.filename] for r in wheel_files], build / "site")
        installed = wheels.versions_in(build / "site")
        wrong = {k: (v, installed.get(k)) for k, v in pins.items() if installed.get(k) != v}
        if wrong:
            raise Arm64Unavailable("aarch64 wheels do not match the host: " + ", ".join(f"{k} {h} on the host, {a} for aarch64" for k, (h, a) in wrong.items()))
        info = {"created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "qemu": qemu_info, "python": PYTHON,
                "wheels": {k: installed[k] for k in sorted(installed)}, "pinned": pins,
                "debian": [{"file": r.filename, "sha256": r.sha256} for r in debs], "plugins": False}
        note("checking the emulated Python (numpy, LiteRT, ONNX Runtime on cortex-a53)")
        probe = Arm64Env(build, {**info, "qemu": {**qemu_info, "path": str(build / "qemu" / "qemu-aarch64") if qemu_override is None
                                                  else str(qemu_override)}})
        info["smoke"] = smoke(probe)
        atomic_write_text(build / MANIFEST, json.dumps(info, indent=2))
        if root.exists():
            shutil.rmtree(root)
        os.replace(build, root)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    for spent in (downloads, private.root):  # kept for a retry after a failure; of no use once the environment is complete
        shutil.rmtree(spent, ignore_errors=True)
    return find_env()


def smoke(env: Arm64Env, cpu: str = "cortex-a53") -> str:
    """Run the emulated Python once; return what it printed or raise :class:`Arm64Unavailable` with its error."""
    try:
        out = subprocess.run([*env.command(cpu), "-c", f"import sys; sys.path[:0] = [{str(env.site)!r}]; {SMOKE}"],
                             capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Arm64Unavailable(f"the emulated Python did not run ({exc.__class__.__name__}: {exc})") from None
    if out.returncode != 0 or not out.stdout.startswith("aarch64"):
        last = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        raise Arm64Unavailable(f"the emulated Python failed its check: {last}")
    return out.stdout.strip()


def status() -> dict[str, object]:
    """What is there: the environment for this host's versions (or why not), and other cached environments."""
    from .pins import cache_root

    root = env_dir()
    others = sorted(p.name for p in cache_root().glob("cp*") if p.is_dir() and p != root) if cache_root().is_dir() else []
    try:
        env = find_env()
    except Arm64Unavailable as exc:
        return {"ready": False, "why": exc.why, "root": str(root), "other_environments": others}
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink())
    return {"ready": True, "root": str(root), **env.describe(), "smoke": env.info.get("smoke"), "size_mb": round(size / 2**20, 1),
            "other_environments": others}
