"""Which qemu-aarch64 to trust: only one whose ``--version`` says >= :data:`~.pins.QEMU_MIN`.

A qemu on PATH is never used just because it is there; every binary is asked for its version.

Example:
    >>> parse_version("qemu-aarch64 version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)")
    (10, 0, 2)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .errors import Arm64Unavailable
from .pins import QEMU_MIN


def parse_version(text: str) -> tuple[int, ...] | None:
    """The ``X.Y.Z`` of ``qemu-aarch64 --version`` output, or None."""
    match = re.search(r"qemu-aarch64 version (\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def checked_version(path: str | Path) -> str:
    """Run ``path --version``; return ``X.Y.Z`` or raise :class:`Arm64Unavailable` (missing, not qemu, too old)."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Arm64Unavailable(f"qemu-aarch64 {path} cannot be run ({exc.__class__.__name__}: {exc})") from None
    version = parse_version(out.stdout)
    if version is None:
        first = (out.stdout or out.stderr).strip().splitlines()[:1]
        raise Arm64Unavailable(f"{path} is not qemu-aarch64 (its --version printed {first[0] if first else 'nothing'!r})")
    shown = ".".join(map(str, version))
    if version[:2] < QEMU_MIN:
        raise Arm64Unavailable(f"qemu-aarch64 {path} is version {shown}; versions older than {QEMU_MIN[0]} compute int8 LSTM kernels "
                               f"wrongly (docs/arm64.md) -- let 'lstm-deploy arm64 setup' fetch qemu {QEMU_MIN[0]} from {_source()}")
    return shown


def _source() -> str:
    from .pins import QEMU_PACKAGE, QEMU_SUITE

    return f"Debian {QEMU_SUITE} ({QEMU_PACKAGE})"
