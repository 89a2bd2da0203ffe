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
        raise InputError(f"{option} {path}: exists and is not a directory (it is an existing file); expected a folder")
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


# ---------------------------------------------------------------- the one output rule
#
# Every command that writes declares, before any work, the files it may write in each output
# folder (names or glob patterns, relative to the folder). An existing one is replaced only when
# lstm-deploy wrote it: the folder's LEDGER lists what lstm-deploy wrote there with each file's
# SHA-256, so a file you made -- or edited since -- is refused, and so is an input, whoever
# wrote it. Whole folders made by ``lstm-deploy run`` keep their own marker rule
# (:mod:`lstm_deploy.pipeline.runner`).

#: In each folder lstm-deploy writes files into: ``{"files": {relative path: sha256}}`` of what it wrote there.
LEDGER = ".lstm-deploy-files.json"
_LEDGER_MAX_BYTES = 16 * 2**20


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_ledger(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of the files lstm-deploy wrote in ``folder`` (empty when none, or the ledger is unreadable)."""
    import json

    path = Path(folder) / LEDGER
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _LEDGER_MAX_BYTES:
            return {}
        files = json.loads(path.read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(files, dict) else {}


def written_by_lstm_deploy(path: str | Path, folder: str | Path | None = None) -> bool:
    """Whether lstm-deploy wrote ``path`` and nobody changed it since (its SHA-256 is the one in the ledger of ``folder``)."""
    path = Path(path)
    folder = Path(folder) if folder is not None else path.parent
    if path.is_symlink() or not path.is_file():
        return False
    recorded = read_ledger(folder).get(Path(os.path.relpath(path, folder)).as_posix())
    return recorded is not None and recorded == _sha256(path)


def _matches(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Existing entries of ``folder`` an output pattern names (``**`` patterns: every file below)."""
    found: dict[Path, None] = {}
    if not folder.is_dir():
        return []
    for pattern in patterns:
        for path in sorted(folder.glob(pattern)) if any(c in pattern for c in "*?[") else [folder / pattern]:
            if os.path.lexists(path) and path.name != LEDGER and not (path.is_dir() and not path.is_symlink()):
                found[path] = None
    return list(found)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return _absolute(a) == _absolute(b) or os.path.samefile(a, b)
    except OSError:
        return False


def check_replaceable(folder: str | Path, patterns: tuple[str, ...], option: str,
                      inputs: Mapping[str, str | Path | None] | None = None) -> None:
    """Refuse, in one line, to write where an existing file named by ``patterns`` is an input or not lstm-deploy's.

    Example:
        >>> check_replaceable(".", ("report.md", "report.html"), "-o")     # doctest: +SKIP
        Traceback (most recent call last):
        ...
        lstm_deploy.errors.InputError: -o .: report.md exists and lstm-deploy did not write it (or it was changed since) ...
    """
    folder = Path(folder)
    for pattern in patterns:
        if not any(c in pattern for c in "*?[") and (folder / pattern).is_dir() and not (folder / pattern).is_symlink():
            raise InputError(f"{option} {folder}: {pattern} is an existing folder where lstm-deploy writes a file; "
                             "move it away or choose another output folder")
    for path in _matches(folder, patterns):
        rel = os.path.relpath(path, folder)
        for what, given in (inputs or {}).items():
            if given is not None and os.path.lexists(given) and _same_file(path, Path(given)):
                raise InputError(f"{option} {folder}: writing there would overwrite the input {what} {given} ({rel}); "
                                 "choose another output folder")
        if path.is_symlink():
            raise InputError(f"{option} {folder}: {rel} is a symbolic link lstm-deploy did not make and would replace; "
                             "move it away or choose another output folder")
        if not written_by_lstm_deploy(path, folder):
            raise InputError(f"{option} {folder}: {rel} exists and lstm-deploy did not write it (or it was changed since), so it is "
                             "not replaced; move it away or choose another output folder")


def _stats(folder: Path, patterns: tuple[str, ...]) -> dict[Path, tuple[int, int, int]]:
    out = {}
    for path in _matches(folder, patterns):
        try:
            st = path.stat()
        except OSError:
            continue
        out[path] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def record_written(folder: Path, paths: list[Path]) -> None:
    """Add ``paths`` (files lstm-deploy just wrote in ``folder`` or below) to the folder's ledger."""
    import json

    from .atomic import atomic_write_text
    from . import __version__

    files = read_ledger(folder)
    for path in paths:
        rel = Path(os.path.relpath(path, folder)).as_posix()
        if path.is_file() and not path.is_symlink():
            files[rel] = _sha256(path)
    files = {rel: digest for rel, digest in files.items() if (folder / rel).is_file()}  # forget files that are gone
    ledger = {"created_by": "lstm-deploy", "version": __version__,
              "about": "files lstm-deploy wrote in this folder (it replaces only these, unchanged); delete this file to protect them all",
              "files": dict(sorted(files.items()))}
    atomic_write_text(folder / LEDGER, json.dumps(ledger, indent=1) + "\n")


def record_since(folder: str | Path, patterns: tuple[str, ...], since_ns: int) -> None:
    """Record the files matching ``patterns`` in ``folder`` written at or after ``since_ns`` (``time.time_ns()``): for a
    library call that wrote them, so a later command may replace them."""
    folder = Path(folder)
    written = [p for p, (_, _, mtime) in _stats(folder, patterns).items() if mtime >= since_ns]
    if written:
        record_written(folder, written)


class Outputs:
    """The files one command may write: ``(folder, patterns, option)`` entries, checked before and recorded after the work.

    Example:
        >>> with Outputs(inputs={"model": "m.keras"}).folder("opt", ("report.*", "trials/**"), "-o"):   # doctest: +SKIP
        ...     optimize_model("m.keras", "d.npz", "opt", config)
    """

    def __init__(self, inputs: Mapping[str, str | Path | None] | None = None) -> None:
        self.inputs = dict(inputs or {})
        self.entries: list[tuple[Path, tuple[str, ...], str]] = []

    def folder(self, folder: str | Path, patterns: tuple[str, ...], option: str) -> "Outputs":
        """Files matching ``patterns`` in ``folder``, which the user gave as ``option``."""
        self.entries.append((Path(folder), tuple(patterns), option))
        return self

    def file(self, path: str | Path, option: str) -> "Outputs":
        """One file the user named with ``option``."""
        path = Path(path)
        return self.folder(path.parent, (path.name,), option)

    def __enter__(self) -> "Outputs":
        for folder, patterns, option in self.entries:
            check_replaceable(folder, patterns, option, self.inputs)
        self._before = [_stats(folder, patterns) for folder, patterns, _ in self.entries]
        return self

    def __exit__(self, *exc: object) -> None:
        # Also after a failure or Ctrl-C: what was written is lstm-deploy's and may be replaced by the next run.
        for (folder, patterns, _), before in zip(self.entries, self._before):
            after = _stats(folder, patterns)
            written = [p for p, st in after.items() if before.get(p) != st]
            if written or set(before) - set(after):
                record_written(folder, written)
