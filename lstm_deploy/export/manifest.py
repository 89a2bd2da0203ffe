"""The ``<artifact>.json`` manifest that travels with every exported artifact.

It is what :mod:`lstm_deploy.runtime` needs to run the artifact correctly (input and
output names, quantization, masking and state semantics) and what a reviewer needs to
trust it (source model hash, parity numbers, ops).

Example:
    >>> manifest_path("out/model.fp32.tflite").name
    'model.fp32.tflite.json'
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import __version__

SCHEMA_VERSION = 1

STATELESS_TFLITE = (
    "The fused LSTM kernel keeps h/c in variable tensors across invoke(); independent sequences must start from "
    "interpreter.reset_all_variables(). lstm_deploy.runtime.Model.predict does this before every invocation."
)
STATELESS_ONNX = "Stateless: every run starts from zero h/c state."


def manifest_path(artifact: str | Path) -> Path:
    """Where the manifest of ``artifact`` lives: the artifact path plus ``.json``."""
    return Path(str(artifact) + ".json")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(
    *,
    artifact: Path,
    data: bytes,
    fmt: str,
    quantization: str,
    batch_size: int | None,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    masking: dict[str, Any] | None,
    streaming: dict[str, Any] | None,
    fusion: dict[str, Any],
    ops: list[str],
    source: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the manifest dict (parity is added once the check has run)."""
    if streaming is not None:
        state = {"kind": "explicit", "semantics": (
            "Single-step model: feed one time step plus the h/c state inputs (zeros at the start of a sequence) and "
            "feed the next_* outputs back as the next step's state. lstm_deploy.runtime.Model.stream() does this. "
            "Do not feed padding steps of a masked model.")}
    else:
        state = {"kind": "stateless", "reset_between_sequences": fmt == "tflite",
                 "semantics": STATELESS_TFLITE if fmt == "tflite" else STATELESS_ONNX}
    return {
        "schema_version": SCHEMA_VERSION,
        "lstm_deploy_version": __version__,
        "format": fmt,
        "quantization": quantization,
        "artifact": artifact.name,
        "artifact_sha256": sha256_bytes(data),
        "size_bytes": len(data),
        "batch_size": batch_size,
        "input_name": "x",
        "output_name": "output",
        "inputs": inputs,
        "outputs": outputs,
        "masking": masking,
        "streaming": streaming,
        "state": state,
        "fused_lstm": fusion,
        "ops": ops,
        "source_model": source,
        **extra,
    }


def dumps(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a manifest")
