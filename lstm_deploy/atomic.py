"""Write-then-rename helpers: no half-written file ever looks valid, and no folder is ever replaced.

Example:
    >>> with atomic_path("model.tflite") as tmp:      # doctest: +SKIP
    ...     tmp.write_bytes(data)                       # renamed into place on success
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import InputError


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    The temporary keeps ``target``'s suffix (Keras and converters check suffixes).
    The temporary may be a file or a folder, but an existing *folder* at ``target`` is never
    replaced (it may be the user's): that raises :class:`InputError` before anything is
    written. On any exception (Ctrl-C included) the temporary is removed and ``target`` is
    left as it was.
    """
    target = Path(target)
    if target.is_dir() and not target.is_symlink():
        raise InputError(f"{target}: is an existing folder; lstm-deploy writes a file here and never replaces a folder -- choose a file path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp = tmp_dir / f"partial{''.join(target.suffixes)}"
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and return ``target``."""
    return atomic_write_bytes(target, text.encode("utf-8"))
