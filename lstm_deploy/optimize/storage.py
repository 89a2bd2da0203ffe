"""Which Optuna storages ``optimize`` may write: a new SQLite file, a study database lstm-deploy made, or a server you name.

Optuna adds its tables to whatever database it is given. lstm-deploy writes only databases it
created: a ``sqlite:///`` file must not exist yet (it is then created with a
:data:`MARKER_TABLE` that says lstm-deploy made it) or must be a study database lstm-deploy made
(the marker table; or, from 0.2.0, only Optuna's tables and only ``lstm-deploy-optimize-*``
studies). Anything else -- your application's database, another project's Optuna studies, an
empty placeholder file, a file that is not SQLite -- is refused with :class:`InputError`
before anything is opened for writing, and stays byte-identical. A server URL
(``postgresql://...``, e.g. for a Ray cluster) is your explicit choice on the command line; a
recipe cannot name one (:func:`lstm_deploy.pipeline.recipe.recipe_storage_problem`): its study lives inside its own output folder.

Example:
    >>> check_storage("sqlite:///new-study.db")              # doctest: +SKIP
    >>> check_storage("sqlite:///app.db")                     # doctest: +SKIP
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --storage sqlite:///app.db: app.db is an SQLite database lstm-deploy did not create ...
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import quote

from ..errors import InputError

#: The table lstm-deploy writes into every study database it creates.
MARKER_TABLE = "lstm_deploy_study"
#: Tables of Optuna's RDB storage (any version since 2.x).
OPTUNA_TABLES = frozenset({
    "studies", "version_info", "study_directions", "study_user_attributes", "study_system_attributes", "trials",
    "trial_user_attributes", "trial_system_attributes", "trial_params", "trial_values", "trial_intermediate_values",
    "trial_heartbeats", "alembic_version",
})
#: Prefix of the study names ``optimize`` derives (see :func:`lstm_deploy.optimize.api.study_name`).
STUDY_PREFIX = "lstm-deploy-optimize-"
_SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite://`` URL (``None``: not SQLite, or an in-memory database), or :class:`InputError`.

    Example:
        >>> sqlite_file("sqlite:///runs/study.db"), sqlite_file("sqlite:////tmp/s.db"), sqlite_file("postgresql://db/x")
        (PosixPath('runs/study.db'), PosixPath('/tmp/s.db'), None)
    """
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0].lower() != "sqlite":
        return None
    if rest in ("", "/:memory:"):
        return None  # nothing on disk
    if not rest.startswith("/") or "?" in rest:
        raise InputError(f"--storage {url}: expected sqlite:///relative/path.db or sqlite:////absolute/path.db (no host, no ?options)")
    return Path(rest[1:])


def _tables(path: Path) -> tuple[set[str], list[str]]:
    """Table names and study names of an SQLite file, read without writing to it."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    try:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        studies = [row[0] for row in con.execute("SELECT study_name FROM studies")] if "studies" in tables else []
    finally:
        con.close()
    return tables, studies


def study_database_problem(path: Path) -> str | None:
    """Why the existing file ``path`` is not a study database lstm-deploy made (``None`` when it is one)."""
    if path.is_dir():
        return "is a folder; expected a database file"
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not header:
        return "is an empty file lstm-deploy did not create"
    if header != _SQLITE_HEADER:
        return "is not an SQLite database"
    try:
        tables, studies = _tables(path)
    except sqlite3.Error as exc:
        return f"cannot be read as SQLite ({str(exc)[:100]})"
    if MARKER_TABLE in tables:
        return None
    if tables and tables <= OPTUNA_TABLES and studies and all(s.startswith(STUDY_PREFIX) for s in studies):
        return None  # made by lstm-deploy 0.2.0, before the marker table
    if tables & OPTUNA_TABLES:
        return "holds Optuna studies lstm-deploy did not make"
    return "is an SQLite database lstm-deploy did not create"


def check_storage(url: str | None, option: str = "--storage") -> Path | None:
    """Refuse a ``sqlite:///`` storage lstm-deploy may not write; return its file (``None`` for servers and memory).

    Reads only: a refused file is left byte-identical.
    """
    if url is None:
        return None
    try:
        path = sqlite_file(url)
    except InputError as exc:
        raise InputError(str(exc).replace("--storage", option, 1)) from None
    if path is None:
        return None
    if not path.exists():
        if not path.parent.is_dir():
            raise InputError(f"{option} {url}: the folder {path.parent} does not exist; create it or choose another path")
        return path
    problem = study_database_problem(path)
    if problem:
        raise InputError(f"{option} {url}: {path} {problem}; lstm-deploy writes only study databases it created -- "
                         "give a new file name (e.g. sqlite:///study.db)")
    return path


def prepare_storage(url: str | None, option: str = "--storage") -> None:
    """:func:`check_storage`, then make sure the study file carries :data:`MARKER_TABLE` (created with it when new)."""
    from .. import __version__

    path = check_storage(url, option)
    if path is None:
        return
    con = sqlite3.connect(path)
    try:
        with con:
            con.execute(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (key TEXT PRIMARY KEY, value TEXT)")
            con.execute(f"INSERT OR IGNORE INTO {MARKER_TABLE} VALUES ('created_by', ?)",
                        (json.dumps({"tool": "lstm-deploy", "version": __version__}),))
    finally:
        con.close()


def recipe_storage_url(url: str, out_dir: Path) -> str:
    """The storage URL a recipe's ``sqlite:///NAME.db`` means for a run writing to ``out_dir`` (recipe validation
    allows only that form: :func:`lstm_deploy.pipeline.recipe.recipe_storage_problem`)."""
    from ..paths import name_problem

    scheme, _, rest = url.partition(":///")
    if scheme.split("+")[0].lower() != "sqlite" or name_problem(rest) or "?" in rest:
        raise InputError(f"optimize.storage {url[:80]!r}: a recipe keeps its study inside its own output folder: expected sqlite:///NAME.db")
    return f"sqlite:///{(Path(out_dir) / rest).resolve()}"
