r"""Output paths, checked before any work starts: not an input, not a folder where a file is meant, writable.

Every command validates its outputs (``-o``, ``--report``, ``--name``, ``--save-recipe``) with
these helpers first, so a bad path fails in a second with exit 2 instead of after minutes of
training. Nothing here creates or changes a file.

Example:
    >>> check_name("model", "--name")
    'model'
    >>> check_name("../x", "--name")
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --name '../x': expected a plain name (no '/', '\' or '..', not starting with '.'), e.g. 'model'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import InputError

#: Longest artifact / recipe name: leaves room for suffixes and temporary names within NAME_MAX.
MAX_NAME = 100
#: Bytes a temporary file name adds to an output's name (see :func:`lstm_deploy.atomic.atomic_path`).
TEMP_EXTRA = 10


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name (``None`` when it is one)."""
    if not name or len(name) > MAX_NAME:
        return f"expected a name of 1 to {MAX_NAME} characters"
    if name.startswith(".") or any(c in name for c in "/\\") or any(ord(c) < 32 for c in name):
        return "expected a plain name (no '/', '\\' or '..', not starting with '.'), e.g. 'model'"
    return None


def check_name(name: str, option: str) -> str:
    """``name`` if it is a plain name (no separators, no ``..``), else :class:`InputError` naming ``option``."""
    problem = name_problem(name)
    if problem:
        raise InputError(f"{option} {name[:MAX_NAME]!r}: {problem}")
    return name


def _limits(existing: Path) -> tuple[int, int]:
    try:
        return os.pathconf(existing, "PC_NAME_MAX"), os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or the file system does not say
        return 255, 4096


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a name too long to stat: it does not exist
        return False


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if _exists(candidate):
            return candidate
    return Path(path.anchor or ".")


def _check_lengths(path: Path, option: str, shown: Path, extra: int) -> None:
    """Every name of ``path`` (absolute) and the whole path fit the file system, temporary names included."""
    anchor = _nearest_existing(path)
    name_max, path_max = _limits(anchor if anchor.is_dir() else anchor.parent)
    for i, part in enumerate(path.parts[1:], 1):
        limit = name_max - (extra if i == len(path.parts) - 1 else 0)
        if len(os.fsencode(part)) > limit:
            raise InputError(f"{option} {str(shown)[:60]}...: the name '{part[:40]}...' is {len(os.fsencode(part))} bytes; "
                             f"at most {limit} fit here -- choose a shorter name")
    if len(os.fsencode(str(path))) + extra > path_max:
        raise InputError(f"{option} {str(shown)[:60]}...: the path is longer than the {path_max} bytes this system allows; choose a shorter one")


def _check_writable(path: Path, option: str, shown: Path, folder: bool) -> None:
    """The nearest existing ancestor of ``path`` (absolute) is a folder we may write in."""
    anchor = _nearest_existing(path if folder else path.parent)  # files are written via a temporary beside them
    if not anchor.is_dir():
        raise InputError(f"{option} {shown}: {anchor} is a file, so no folder can be created under it; choose another path")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise InputError(f"{option} {shown}: {anchor} is not writable; choose a folder you can write to")


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _is_within(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or below it, by name or after resolving symlinks."""
    path, folder = _absolute(path), _absolute(folder)
    return path == folder or folder in path.parents or (_exists(folder) and path.resolve().is_relative_to(folder.resolve()))


def _clash(path: Path, inputs: Mapping[str, str | Path | None], option: str) -> None:
    for what, given in inputs.items():
        if given is None:
            continue
        source = Path(given)
        same = _absolute(path) == _absolute(source) or (_exists(path) and _exists(source) and os.path.samefile(path, source))
        if same:
            raise InputError(f"{option} {path}: would overwrite the input {what} {source}; choose another output path")
        if source.is_dir() and _is_within(path, source):
            raise InputError(f"{option} {path}: is inside the input {what} {source}, which writing there would change; choose another output path")


def check_output_file(path: str | Path, option: str, *, inputs: Mapping[str, str | Path | None] | None = None,
                      suffixes: tuple[str, ...] | None = None) -> Path:
    """A file lstm-deploy will write: not an input, not an existing folder, right suffix, creatable.

    ``inputs`` names what the command reads (``{"model": path, "data": path}``), for the message.

    Example:
        >>> check_output_file("report.json", "--report", inputs={"data": "data.npz"})   # doctest: +SKIP
        PosixPath('report.json')
    """
    path = Path(path)
    _check_lengths(_absolute(path), option, path, TEMP_EXTRA)
    if path.is_dir():
        raise InputError(f"{option} {path}: is an existing folder; expected a file path (lstm-deploy never replaces a folder with a file)")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"{option} {path}: expected a file name ending in {' or '.join(suffixes)}, got '{path.suffix or '(no suffix)'}'")
    _clash(path, inputs or {}, option)
    _check_writable(_absolute(path), option, path, folder=False)
    return path


def check_output_dir(path: str | Path, option: str, *, inputs: Mapping[str, str | Path | None] | None = None) -> Path:
    """A folder lstm-deploy will write into: not an existing file, not an input (or inside one), creatable.

    Example:
        >>> check_output_dir("out", "-o", inputs={"model": "model.keras"})               # doctest: +SKIP
        PosixPath('out')
    """
    path = Path(path)
    _check_lengths(_absolute(path), option, path, 0)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: exists and is not a directory; expected a folder")
    _clash(path, inputs or {}, option)
    _check_writable(_absolute(path), option, path, folder=True)
    return path


def check_distinct(**outputs: str | Path | None) -> None:
    """No two outputs are the same file: ``check_distinct(o=out, report=report)`` (keyword = option without dashes)."""
    seen: dict[str, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key, shown = os.path.abspath(path), ("-" if len(option) == 1 else "--") + option.replace("_", "-")
        if key in seen:
            raise InputError(f"{shown} {path}: is also {seen[key]}; give each output its own file")
        seen[key] = shown
