"""Silence log lines native code writes straight to file descriptor 2 (LiteRT's "Created TensorFlow Lite XNNPACK delegate")."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_SHOW = False


def show_native_logs(show: bool) -> None:
    """Let native runtimes write to stderr (``lstm-deploy -vv`` does); off by default."""
    global _SHOW
    _SHOW = bool(show)


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block; Python exceptions still propagate with their messages."""
    if _SHOW:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
