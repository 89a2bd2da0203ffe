"""What the ARM64 environment is made of: versions, packages, CPU models and where it is cached.

Everything is pinned so that an emulated run means the same thing on every machine:
qemu >= 10 (bookworm's 7.2 computes int8 LSTMs wrongly with ``-cpu max``, docs/arm64.md),
Debian bookworm's arm64 CPython 3.11, and the host's own numpy / LiteRT / ONNX Runtime versions
as aarch64 wheels (the emulated artifact runs the same runtime release as the x86 one).

Example:
    >>> QEMU_MIN
    (10, 0)
    >>> "neoverse-n2" in CPUS
    True
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from .errors import Arm64Unavailable

#: Oldest qemu-aarch64 whose answers were checked right (docs/arm64.md); older ones are refused.
QEMU_MIN = (10, 0)
#: Where the qemu 10 package comes from (extracted, never installed).
QEMU_PACKAGE = "qemu-user"
QEMU_SUITE = "bookworm-backports"
#: Debian release, mirrors and keyring of the aarch64 CPython and its libraries.
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
PYTHON = "3.11"
#: arm64 packages unpacked into the sysroot (CPython 3.11 and what numpy/LiteRT/ONNX Runtime load).
SYSROOT_PACKAGES = (
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "libexpat1", "zlib1g", "libffi8", "libssl3",
    "libstdc++6", "libgcc-s1", "libbz2-1.0", "liblzma5", "libcrypt1", "libsqlite3-0", "libuuid1", "libncursesw6", "libtinfo6",
)
#: Host distributions pinned as aarch64 wheels (their dependencies follow pip's resolution).
WHEELS = ("numpy", "ai-edge-litert", "onnxruntime")
#: ai-edge-litert is tagged manylinux_2_27_aarch64 only: every tag must be asked for by name.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_27_aarch64", "manylinux_2_28_aarch64")
#: Emulated CPU models of the benchmark and the export check: a little core (no dot product),
#: a big phone core (dot product) and a server-class core (i8mm, SVE2).
CPUS = ("cortex-a53", "cortex-a76", "neoverse-n2")
#: Environment variable that moves the cache (default ``$XDG_CACHE_HOME/lstm-deploy/arm64``).
HOME_ENV = "LSTM_DEPLOY_ARM64_HOME"


def host_versions() -> dict[str, str]:
    """``{distribution: version}`` of :data:`WHEELS` installed on this host (the versions to pin)."""
    found = {}
    for name in WHEELS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise Arm64Unavailable(f"{name} is not installed on this host; the ARM64 wheels are pinned to the host's "
                                   f"versions -- install lstm-deploy with its dependencies first") from None
    return found


def cache_root() -> Path:
    """The per-user folder that holds every ARM64 environment (one subfolder per pinned version set)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "lstm-deploy" / "arm64"


def env_key(versions: dict[str, str]) -> str:
    """Folder name of one environment: Python and the pinned wheel versions.

    Example:
        >>> env_key({"numpy": "2.3.5", "ai-edge-litert": "2.3.0", "onnxruntime": "1.32.0"})
        'cp311-numpy2.3.5-ai-edge-litert2.3.0-onnxruntime1.32.0'
    """
    return "cp" + PYTHON.replace(".", "") + "".join(f"-{name}{versions[name]}" for name in WHEELS)
