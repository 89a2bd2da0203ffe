"""A private apt configuration: its own sources list, state and cache, amd64 + arm64; nothing system-wide.

``apt-get update`` checks the Debian archive signatures (the system keyring); the file list with
sizes and SHA-256 comes from ``apt-get --print-uris download``; :mod:`.fetch` downloads and
checks the files and ``dpkg-deb`` unpacks them. Works as any user (no locks, no dpkg database).

Example:
    >>> print(sources_text().splitlines()[0])
    deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from .errors import Arm64Unavailable
from .fetch import Remote
from .pins import KEYRING, MIRROR, QEMU_SUITE, SECURITY_MIRROR, SUITE

TOOLS = ("apt-get", "dpkg-deb")


def check_host() -> None:
    """Raise :class:`Arm64Unavailable` unless this is an x86-64 host with apt, dpkg-deb and the Debian keyring."""
    import platform

    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise Arm64Unavailable(f"the ARM64 environment is built for x86-64 Linux hosts; this is {platform.system()} {platform.machine()}")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise Arm64Unavailable(f"{', '.join(missing)} not found; the ARM64 environment is assembled from Debian packages "
                               "on Debian/Ubuntu hosts (apt) only")
    if not KEYRING.is_file():
        raise Arm64Unavailable(f"{KEYRING} not found; install the debian-archive-keyring package so Debian's signatures can be checked")


def sources_text() -> str:
    """The private sources list: bookworm (+ updates, security) for both architectures, backports for qemu (amd64)."""
    both = f"deb [arch=amd64,arm64 signed-by={KEYRING}]"
    return "\n".join([f"{both} {MIRROR} {SUITE} main", f"{both} {MIRROR} {SUITE}-updates main", f"{both} {SECURITY_MIRROR} {SUITE}-security main",
                      f"deb [arch=amd64 signed-by={KEYRING}] {MIRROR} {QEMU_SUITE} main"]) + "\n"


class PrivateApt:
    """apt-get with every path of its own under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("lists/partial", "cache/archives/partial", "parts", "prefs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "sources.list").write_text(sources_text(), encoding="utf-8")
        (root / "status").touch()

    def _options(self) -> list[str]:
        r = self.root
        opts = {"Dir::Etc::SourceList": r / "sources.list", "Dir::Etc::SourceParts": r / "parts", "Dir::Etc::Preferences": r / "prefs/none",
                "Dir::Etc::PreferencesParts": r / "prefs", "Dir::State": r, "Dir::State::Lists": r / "lists", "Dir::State::status": r / "status",
                "Dir::Cache": r / "cache", "Debug::NoLocking": "1", "APT::Sandbox::User": "root" if _is_root() else ""}
        args = [f"-o{k}={v}" for k, v in opts.items() if v != ""]
        return args + ["-oAPT::Architectures::=amd64", "-oAPT::Architectures::=arm64"]

    def _run(self, args: list[str], what: str) -> str:
        try:
            out = subprocess.run(["apt-get", "-q", *self._options(), *args], capture_output=True, text=True, timeout=600, cwd=self.root)
        except (OSError, subprocess.SubprocessError) as exc:
            raise Arm64Unavailable(f"apt-get {what} failed ({exc.__class__.__name__}: {exc})") from None
        errors = [line for line in out.stderr.splitlines() if line.startswith(("E:", "Err:"))]
        if out.returncode != 0 or errors:
            first = (errors or out.stderr.strip().splitlines() or ["no message"])[0]
            raise Arm64Unavailable(f"apt-get {what} failed: {first}")
        return out.stdout

    def update(self) -> None:
        """Fetch the signed package indexes (about 19 MB)."""
        self._run(["update"], "update (Debian package indexes)")

    def remotes(self, specs: list[str]) -> list[Remote]:
        """URL, file name, size and SHA-256 of each ``name[:arch][/suite]`` (what ``apt-get download`` would fetch)."""
        out = self._run(["--print-uris", "download", *specs], f"download {' '.join(specs)}")
        found = [Remote(url, name, int(size), digest) for url, name, size, digest in
                 re.findall(r"^'([^']+)' (\S+) (\d+) SHA256:([0-9a-f]{64})$", out, flags=re.M)]
        if len(found) != len(specs):
            raise Arm64Unavailable(f"apt-get found {len(found)} of the {len(specs)} Debian packages {', '.join(specs)}")
        return found


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def extract(deb: Path, into: Path) -> None:
    """Unpack a .deb's files into ``into`` (``dpkg-deb -x``: no scripts run, nothing registered)."""
    into.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], capture_output=True, text=True)
    if out.returncode != 0:
        raise Arm64Unavailable(f"dpkg-deb -x {deb.name} failed: {(out.stderr.strip().splitlines() or ['no message'])[0]}")


def extract_member(deb: Path, member: str, target: Path) -> Path:
    """Copy one file (``usr/bin/qemu-aarch64``) out of a .deb's data (``dpkg-deb --fsys-tarfile``)."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for info in tar:
            if info.name.lstrip("./") == member and info.isfile():
                source = tar.extractfile(info)
                assert source is not None
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read())
                target.chmod(0o755)
                break
        else:
            raise Arm64Unavailable(f"{deb.name} holds no {member}")
    proc.stdout.close()
    proc.wait()
    return target
