"""Load and save Keras models of either flavour, safely.

Accepted inputs: Keras 3 ``.keras``, tf_keras ``.keras``, legacy ``.h5`` (either
flavour) and tf_keras SavedModel directories. No code from a model file runs unless
the caller passes ``unsafe=True``: every format is scanned *before* loading
(:mod:`lstm_deploy.load.scan`: Lambda layers, custom objects, TensorFlow functions
called by name, graph ops that run Python or touch files), then loaded in Keras safe
mode. Saving writes the user's flavour by default, through a temporary file that is
renamed into place only when complete.

Example:
    >>> loaded = load_model("model.keras")                  # doctest: +SKIP
    >>> loaded.flavour, loaded.sha256[:8]                   # doctest: +SKIP
    ('keras3', '3f2a9c1e')
    >>> save_model(loaded.tf_keras_model(), "out.keras", flavour=loaded.flavour)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _tf
from ..atomic import atomic_path
from .flavours import Flavour, canonicalize, flavour_of, to_flavour, to_tf_keras
from ..errors import ModelLoadError
from . import scan
from .layers import check_supported

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
#: Largest config.json / metadata.json read from a .keras zip (real ones are kilobytes).
MAX_CONFIG_BYTES = 64 << 20


@dataclass
class LoadedModel:
    """A model as the user gave it, plus where it came from.

    ``model`` is in the user's flavour; :meth:`tf_keras_model` and :meth:`keras3_model`
    give verified, canonicalized copies in one flavour or the other (cached).
    """

    model: Any
    flavour: Flavour
    path: Path
    sha256: str
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def canonical_changes(self) -> list[str]:
        """What canonicalization rewrote (e.g. ``RNN(LSTMCell) -> LSTM``), if anything."""
        self._canonical()
        return self._cache["changes"]

    def _canonical(self) -> Any:
        if "canonical" not in self._cache:
            check_supported(self.model.layers)
            self._cache["canonical"], self._cache["changes"] = canonicalize(self.model)
        return self._cache["canonical"]

    def tf_keras_model(self) -> Any:
        """The model as ``tf_keras`` (Keras 2), canonicalized and verified against the original."""
        if "tf_keras" not in self._cache:
            self._cache["tf_keras"] = to_tf_keras(self._canonical(), canonical=False) if self.flavour == "keras3" else self._canonical()
        return self._cache["tf_keras"]

    def keras3_model(self) -> Any:
        """The model as Keras 3, canonicalized and verified against the original."""
        if "keras3" not in self._cache:
            self._cache["keras3"] = to_flavour(self._canonical(), "keras3")
        return self._cache["keras3"]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of every file in a directory (sorted by relative path)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _keras_zip_info(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "config.json" not in names:
                raise ModelLoadError(f"{path}: a zip file without config.json is not a Keras .keras model")
            for member in {"config.json", "metadata.json"} & names:  # size as declared: a zip bomb is refused unread
                if zf.getinfo(member).file_size > MAX_CONFIG_BYTES:
                    raise ModelLoadError(f"{path}: {member} declares {zf.getinfo(member).file_size} bytes, over the "
                                         f"{MAX_CONFIG_BYTES >> 20} MiB a model config can have; is this really a Keras model?")
            meta = json.loads(zf.read("metadata.json")) if "metadata.json" in names else {}
            config = json.loads(zf.read("config.json"))
    except zipfile.BadZipFile:
        raise ModelLoadError(f"{path}: not a valid .keras file (not a zip archive; is it corrupt or truncated?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelLoadError(f"{path}: the .keras archive has an unreadable config ({str(exc)[:200]})") from None
    except (NotImplementedError, RuntimeError, OSError, EOFError) as exc:  # unsupported compression, encryption, truncation
        raise ModelLoadError(f"{path}: the .keras archive cannot be read ({exc.__class__.__name__}: {str(exc)[:200]})") from None
    return str(meta.get("keras_version", "")) if isinstance(meta, dict) else "", config


def _h5_info(path: Path) -> tuple[str, dict[str, Any]]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version", b"")
            raw = f.attrs.get("model_config")
    except OSError:
        raise ModelLoadError(f"{path}: not a valid HDF5 file (is it corrupt or truncated?)") from None
    if raw is None:
        raise ModelLoadError(f"{path}: an HDF5 file without a model config (weights only?); save the whole model")
    version = version.decode() if isinstance(version, bytes) else str(version)
    try:
        raw = raw.decode() if isinstance(raw, bytes) else str(raw)
        return version, json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelLoadError(f"{path}: the HDF5 model_config attribute is not readable JSON ({str(exc)[:200]})") from None


def code_findings(path: str | Path) -> list[str]:
    """What in a model file would run code if it were loaded (empty: nothing). Reads the file; loads nothing.

    Example:
        >>> code_findings("lambda.keras")                  # doctest: +SKIP
        ["Lambda layer 'lambda' (Python code)"]
    """
    path = Path(path)
    if path.is_dir():
        _check_saved_model_dir(path)
        return scan.saved_model_findings(path)
    suffix = path.suffix.lower()
    if suffix == ".keras":
        version, config = _keras_zip_info(path)
        flavour: Flavour = "tf_keras" if version.startswith("2.") else "keras3"
    elif suffix in (".h5", ".hdf5"):
        version, config = _h5_info(path)
        flavour = "keras3" if version.startswith("3.") else "tf_keras"
    else:
        return []
    return scan.config_findings(config, scan.keras_class_names(flavour))


def load_model(path: str | Path, *, unsafe: bool = False) -> LoadedModel:
    """Load a Keras model file or tf_keras SavedModel directory and record its flavour.

    Args:
        path: ``.keras``, ``.h5``/``.hdf5``, or a SavedModel directory saved by tf_keras.
        unsafe: skip the code scan and Keras safe mode: a Lambda layer or custom object in the file
            runs while loading. Only for files you trust; the CLI sets it from ``--unsafe`` alone.

    Raises:
        ModelLoadError: missing, corrupt, non-model, or code-carrying files; the message says which
            (a code-carrying file is refused before any of it is loaded).
    """
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model {path} does not exist")
    if not unsafe:  # before any loader runs: tf_keras would execute a SavedModel's Lambda inside load_model
        scan.refuse(path, code_findings(path))
    if path.is_dir():
        model, flavour = _load_saved_model(path, unsafe)
    elif path.suffix.lower() == ".keras":
        version, _ = _keras_zip_info(path)
        flavour = "tf_keras" if version.startswith("2.") else "keras3"
        model = _call_loader(path, flavour, unsafe)
    elif path.suffix.lower() in (".h5", ".hdf5"):
        version, _ = _h5_info(path)
        flavour = "keras3" if version.startswith("3.") else "tf_keras"
        model = _call_loader(path, flavour, unsafe)
    else:
        raise ModelLoadError(
            f"{path}: unknown model format '{path.suffix or '(no suffix)'}'; expected a .keras or .h5 file or a SavedModel directory"
        )
    return LoadedModel(model=model, flavour=flavour, path=path, sha256=file_sha256(path))


def _call_loader(path: Path, flavour: Flavour, unsafe: bool) -> Any:
    k = _tf.keras3() if flavour == "keras3" else _tf.tf_keras()
    kwargs: dict[str, Any] = {"compile": False}
    if path.suffix.lower() == ".keras" or flavour == "keras3":
        kwargs["safe_mode"] = not unsafe
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = k.models.load_model(path, **kwargs)
    except Exception as exc:  # Keras raises many types for bad files; all mean "cannot load"
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if "safe_mode" in msg or "Lambda" in msg:
            raise ModelLoadError(f"{path}: refused in Keras safe mode ({msg[:200]}); pass --unsafe if you trust this file") from None
        raise ModelLoadError(f"{path}: could not load as a {flavour} model: {msg[:300]}") from None
    if not hasattr(model, "layers") or not hasattr(model, "inputs"):
        raise ModelLoadError(f"{path}: loaded object is not a Keras model")
    return model


def _check_saved_model_dir(path: Path) -> None:
    if not (path / "saved_model.pb").is_file():
        raise ModelLoadError(f"{path}: a directory that is not a SavedModel (no saved_model.pb)")
    if not (path / "keras_metadata.pb").is_file():
        raise ModelLoadError(
            f"{path}: a TensorFlow SavedModel without Keras metadata; lstm-deploy needs the Keras model "
            "(.keras / .h5, or a SavedModel written by tf_keras model.save)"
        )


def _load_saved_model(path: Path, unsafe: bool) -> tuple[Any, Flavour]:
    _check_saved_model_dir(path)
    tfk = _tf.tf_keras()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = tfk.models.load_model(path, compile=False)
    except Exception as exc:  # see _call_loader
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ModelLoadError(f"{path}: could not load the SavedModel with tf_keras: {msg[:300]}") from None
    return model, "tf_keras"


def save_model(model: Any, path: str | Path, flavour: Flavour | None = None, intent: dict[str, Any] | None = None) -> Path:
    """Save ``model`` to ``path`` atomically, converting to ``flavour`` first when needed.

    ``.keras`` and ``.h5`` suffixes are accepted. A Keras 3 ``.keras`` output loads with
    plain ``keras.models.load_model``; a tf_keras one with ``tf_keras.models.load_model``.

    Example:
        >>> save_model(pruned, "pruned.keras", flavour="keras3")   # doctest: +SKIP

    ``intent`` (what the model was prepared for, :mod:`lstm_deploy.load.intent`) is written into the file.
    """
    path = Path(path)
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelLoadError(f"output {path}: expected a .keras or .h5 file name")
    flavour = flavour or flavour_of(model)
    model = to_flavour(model, flavour)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp)
        if intent:
            from .intent import write_intent

            write_intent(tmp, intent)
    return path
