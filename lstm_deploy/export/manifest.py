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


def runtime_fields(plan: Any, fmt: str) -> dict[str, Any]:
    """The manifest fields :class:`lstm_deploy.runtime.Model` needs to run an artifact of ``plan`` correctly."""
    from .plan import INPUT, OUTPUT

    streaming = None
    if plan.streaming:
        streaming = {"states": [{k: s[k] for k in ("input", "output", "units", "layer", "kind")} for s in plan.streaming],
                     "sequence_length": plan.extra.get("sequence_length")}
        state = {"kind": "explicit", "semantics": (
            "Single-step model: feed one time step plus the h/c state inputs (zeros at the start of a sequence) and "
            "feed the next_* outputs back as the next step's state. lstm_deploy.runtime.Model.stream() does this. "
            "Do not feed padding steps of a masked model.")}
    else:
        state = {"kind": "stateless", "reset_between_sequences": fmt == "tflite",
                 "semantics": STATELESS_TFLITE if fmt == "tflite" else STATELESS_ONNX}
    return {"format": fmt, "input_name": INPUT, "output_name": OUTPUT,
            "masking": plan.mask.to_manifest() if plan.mask else None, "streaming": streaming, "state": state}


def build_manifest(*, artifact: Path, converted: Any, source: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Assemble the manifest dict of a :class:`~lstm_deploy.export.convert.Converted` artifact.

    ``inputs``/``outputs`` and ``parity`` are filled in once the artifact has run.
    """
    fields = runtime_fields(converted.plan, converted.format)
    return {
        "schema_version": SCHEMA_VERSION,
        "lstm_deploy_version": __version__,
        "format": converted.format,
        "quantization": converted.quantization,
        "artifact": artifact.name,
        "artifact_sha256": sha256_bytes(converted.data),
        "size_bytes": converted.size_bytes,
        "batch_size": converted.batch_size,
        "input_name": fields["input_name"],
        "output_name": fields["output_name"],
        "inputs": [],
        "outputs": [],
        "masking": fields["masking"],
        "streaming": fields["streaming"],
        "state": fields["state"],
        "fused_lstm": converted.fusion,
        "ops": converted.ops,
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
