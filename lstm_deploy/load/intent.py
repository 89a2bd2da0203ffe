"""What a saved model was prepared for, carried inside the model file (no TensorFlow needed to read it).

``lstm-deploy quantize`` fine-tunes a model for one quantized artifact (``tflite-int8`` by
default); the file it writes says so, and ``export`` of that file with no ``--quantize``
writes that artifact beside fp32. The record lives inside the model file itself, so it
travels with it: a ``lstm_deploy.json`` member of the ``.keras`` zip (Keras ignores members
it does not know) or an ``lstm_deploy`` attribute of an ``.h5`` file.

Example:
    >>> write_intent("qat.keras", {"qat_target": "tflite-int8", "export": ["tflite", "int8"]})   # doctest: +SKIP
    >>> read_intent("qat.keras")                                                                  # doctest: +SKIP
    {'qat_target': 'tflite-int8', 'export': ['tflite', 'int8']}
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

MEMBER = "lstm_deploy.json"
H5_ATTR = "lstm_deploy"
MAX_BYTES = 64 << 10


def write_intent(path: str | Path, intent: dict[str, Any]) -> None:
    """Record ``intent`` inside the model file at ``path`` (``.keras`` or ``.h5``), replacing an earlier record."""
    path = Path(path)
    text = json.dumps(intent, sort_keys=True)
    if path.suffix.lower() == ".keras":
        with zipfile.ZipFile(path) as zf:
            if MEMBER in zf.namelist():  # rewrite without the old record (a zip cannot replace a member in place)
                members = [(info, zf.read(info)) for info in zf.infolist() if info.filename != MEMBER]
            else:
                members = None
        if members is not None:
            with zipfile.ZipFile(path, "w") as out:
                for info, data in members:
                    out.writestr(info, data)
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr(MEMBER, text)
    elif path.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "a") as f:
            f.attrs[H5_ATTR] = text


def read_intent(path: str | Path) -> dict[str, Any]:
    """The record :func:`write_intent` left in ``path``; ``{}`` when there is none or it cannot be read."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".keras" and path.is_file():
            with zipfile.ZipFile(path) as zf:
                if MEMBER not in zf.namelist() or zf.getinfo(MEMBER).file_size > MAX_BYTES:
                    return {}
                data = json.loads(zf.read(MEMBER))
        elif path.suffix.lower() in (".h5", ".hdf5") and path.is_file():
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get(H5_ATTR)
            if raw is None:
                return {}
            data = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
        else:
            return {}
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, KeyError):
        return {}
    return data if isinstance(data, dict) else {}


def export_modes(path: str | Path) -> tuple[str, str] | None:
    """``(format, quantization)`` of the artifact the model at ``path`` was prepared for, if it says."""
    target = read_intent(path).get("export")
    if isinstance(target, list) and len(target) == 2 and all(isinstance(t, str) for t in target):
        return target[0], target[1]
    return None
