"""aarch64 wheels of the host's numpy / LiteRT / ONNX Runtime versions, installed into a folder.

pip resolves them for the emulated interpreter (``--platform`` tags, ``--python-version 3.11``,
``--only-binary=:all:``) in a dry run whose report gives each file's URL and SHA-256;
:mod:`.fetch` downloads them (one progress bar with the Debian files) and pip installs the
local files with ``--target`` (no index, no dependency resolution the second time).

Example:
    >>> platform_args()[:2]
    ['--platform', 'manylinux2014_aarch64']
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import Arm64Unavailable
from .fetch import Remote
from .pins import PLATFORMS, PYTHON


def platform_args() -> list[str]:
    """pip options that select wheels for aarch64 CPython :data:`~.pins.PYTHON` (every manylinux tag asked by name)."""
    args: list[str] = []
    for tag in PLATFORMS:
        args += ["--platform", tag]
    abi = "cp" + PYTHON.replace(".", "")
    return args + ["--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp", "--abi", abi]


def _pip(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
                             capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Arm64Unavailable(f"pip {what} failed ({exc.__class__.__name__}: {exc})") from None
    if out.returncode != 0:
        lines = [line for line in out.stderr.splitlines() if line.startswith("ERROR")] or out.stderr.strip().splitlines() or ["no message"]
        raise Arm64Unavailable(f"pip {what} failed: {lines[0]}")
    return out


def resolve(pins: dict[str, str]) -> list[Remote]:
    """The aarch64 wheels (pinned distributions and their dependencies) pip would install, as downloads."""
    specs = [f"{name}=={version}" for name, version in pins.items()]
    with tempfile.TemporaryDirectory(prefix="lstm-deploy-arm64-") as tmp:
        report = Path(tmp) / "report.json"
        _pip(["install", "--dry-run", "--quiet", "--ignore-installed", "--report", str(report), "--target", str(Path(tmp) / "t"),
              *platform_args(), *specs], f"resolve aarch64 wheels of {', '.join(specs)}")
        data = json.loads(report.read_text(encoding="utf-8"))
    remotes = []
    for item in data.get("install", []):
        info = item["download_info"]
        digest = (info.get("archive_info") or {}).get("hashes", {}).get("sha256")
        if not digest:
            raise Arm64Unavailable(f"pip reported no SHA-256 for {info['url']}; cannot check the download")
        remotes.append(Remote(info["url"], info["url"].rsplit("/", 1)[-1], None, digest))
    return remotes


def install(files: list[Path], target: Path) -> None:
    """Install downloaded wheel files into ``target`` for the emulated interpreter (no index, no resolution)."""
    _pip(["install", "--quiet", "--no-index", "--no-deps", "--target", str(target), *platform_args(), *map(str, files)],
         "install the aarch64 wheels")


def versions_in(target: Path) -> dict[str, str]:
    """``{distribution: version}`` installed in ``target`` (read from its ``*.dist-info`` folders)."""
    found = {}
    for info in target.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found[name.lower().replace("_", "-")] = version
    return found
