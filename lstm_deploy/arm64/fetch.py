"""Download files with one rich progress bar, each checked against the SHA-256 its index gave.

Example:
    >>> Remote("https://example.org/a.deb", "a.deb", 3, "ab" * 32).filename
    'a.deb'
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import Arm64Unavailable

CHUNK = 1 << 16


@dataclass(frozen=True)
class Remote:
    """One file to download: URL, local name, size (None: unknown until the server answers) and SHA-256."""

    url: str
    filename: str
    size: int | None
    sha256: str


def download_all(remotes: Sequence[Remote], folder: Path, *, progress: bool = True) -> list[Path]:
    """Download ``remotes`` into ``folder`` (kept files whose hash matches are not fetched again).

    Raises :class:`Arm64Unavailable` naming the URL when a download fails or its hash differs.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    folder.mkdir(parents=True, exist_ok=True)
    todo = [r for r in remotes if not _have(folder / r.filename, r.sha256)]
    total = sum(r.size or 0 for r in todo)
    columns = (TextColumn("[bold]arm64[/] {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress or not todo, transient=False) as bar:
        task = bar.add_task(f"{len(todo)} files", total=total or None)
        for remote in todo:
            _download(remote, folder / remote.filename, lambda n, grew=0: bar.update(task, advance=n, total=(bar.tasks[0].total or 0) + grew))
    return [folder / r.filename for r in remotes]


def _have(path: Path, sha256: str) -> bool:
    return path.is_file() and _sha256(path) == sha256


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(remote: Remote, target: Path, advance) -> None:
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(remote.url, timeout=60) as response, partial.open("wb") as out:
            if remote.size is None:  # a wheel: its size is known once the server answers
                advance(0, int(response.headers.get("Content-Length") or 0))
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                digest.update(block)
                advance(len(block))
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise Arm64Unavailable(f"download of {remote.url} failed ({exc.__class__.__name__}: {exc})") from None
    if digest.hexdigest() != remote.sha256:
        partial.unlink(missing_ok=True)
        raise Arm64Unavailable(f"{remote.url}: SHA-256 {digest.hexdigest()[:16]}... differs from the index's {remote.sha256[:16]}...; "
                               "retry (a proxy may have changed the file)")
    shutil.move(partial, target)
