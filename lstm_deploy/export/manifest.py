"""The ``<artifact>.json`` manifest that travels with every exported artifact.

It is what :mod:`lstm_deploy_runtime` (re-exported as :mod:`lstm_deploy.runtime`) needs to run the artifact correctly (input and
output names, quantization, masking and state semantics) and what a reviewer needs to
trust it (source model hash, parity numbers, ops). It travels with the artifact to
phones and servers, so it is **portable**: no absolute path of the exporting machine
(the source model is named by file name and SHA-256; :func:`portable` enforces it).
The runtime validates every manifest it loads against one schema and checks the artifact's
``artifact_sha256`` before running it (``docs/runtime.md``).

Example:
    >>> manifest_path("out/model.fp32.tflite").name
    'model.fp32.tflite.json'
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from lstm_deploy_runtime.manifest import FORMAT_VERSION

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
                     "sequence_length": plan.extra.get("sequence_length"),
                     # what the full-sequence model returns: the output of every step, or of the last one only
                     "model_output": "every_step" if len(plan.model.outputs[0].shape) == 3 else "last_step"}
        state = {"kind": "explicit", "semantics": (
            "Single-step model: feed one time step plus the h/c state inputs (zeros at the start of a sequence) and "
            "feed the next_* outputs back as the next step's state. lstm_deploy.runtime.Model.stream() does this. "
            "Do not feed padding steps of a masked model.")}
    else:
        state = {"kind": "stateless", "reset_between_sequences": fmt == "tflite",
                 "semantics": STATELESS_TFLITE if fmt == "tflite" else STATELESS_ONNX}
    fields = {"format": fmt, "input_name": INPUT, "output_name": plan.extra.get("output_name", OUTPUT), "input_range": _token_range(plan),
              "masking": plan.mask.to_manifest() if plan.mask else None, "streaming": streaming, "state": state}
    if plan.inputs is not None:  # several inputs, named as in Keras; runtime.Model.predict takes a dict of them
        fields.update(input_name=plan.inputs[0][0], input_names=[name for name, _, _ in plan.inputs],
                      input_range=plan.extra["input_ranges"].get(plan.inputs[0][0]), input_ranges=plan.extra["input_ranges"])
    return fields


def _token_range(plan: Any) -> list[int] | None:
    """``[0, input_dim - 1]`` when the input is token ids read by an Embedding (ids outside it are an app's bug)."""
    from .plan import flat_layers

    if not plan.input_dtype.startswith(("int", "uint")):
        return None
    first = next((layer for layer in flat_layers(plan.model) if type(layer).__name__ not in ("InputLayer",)), None)
    if first is None or type(first).__name__ != "Embedding":
        return None
    return [0, int(first.input_dim) - 1]


def build_manifest(*, artifact: Path, converted: Any, source: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Assemble the manifest dict of a :class:`~lstm_deploy.export.convert.Converted` artifact.

    ``inputs``/``outputs`` and ``parity`` are filled in once the artifact has run.
    """
    fields = runtime_fields(converted.plan, converted.format)
    return {
        "schema_version": SCHEMA_VERSION,
        # the runtime refuses a manifest of a newer format than it reads (lstm_deploy_runtime.manifest.FORMAT_VERSION)
        "format_version": FORMAT_VERSION,
        "lstm_deploy_version": __version__,
        "format": converted.format,
        "quantization": converted.quantization,
        "artifact": artifact.name,
        "artifact_sha256": sha256_bytes(converted.data),
        "size_bytes": converted.size_bytes,
        "batch_size": converted.batch_size,
        "input_name": fields["input_name"],
        "output_name": fields["output_name"],
        "input_range": fields["input_range"],
        **{k: fields[k] for k in ("input_names", "input_ranges") if k in fields},  # several inputs only
        "inputs": [],
        "outputs": [],
        "masking": fields["masking"],
        "streaming": fields["streaming"],
        "state": fields["state"],
        "fused_lstm": converted.fusion,
        "ops": converted.ops,
        "source_model": portable(source),
        **portable(extra),
    }


_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


def is_absolute_path(text: str) -> bool:
    """Whether ``text`` is an absolute (or home-relative) path on POSIX or Windows.

    Example:
        >>> [is_absolute_path(t) for t in ("/home/me/m.keras", "C:\\m.keras", "~/m.keras", "m.keras", "aeon:BasicMotions")]
        [True, True, True, False, False]
    """
    return text.startswith(("/", "~")) or bool(_WINDOWS_ABSOLUTE.match(text))


def portable(value: Any) -> Any:
    """``value`` with every absolute path replaced by its file name (manifests must not carry local paths).

    Example:
        >>> portable({"file": "/home/me/models/m.keras", "notes": ["keep", "C:\\data\\x.npz"]})
        {'file': 'm.keras', 'notes': ['keep', 'x.npz']}
    """
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v) for v in value]
    if isinstance(value, Path):
        return value.name if value.is_absolute() else str(value)
    if isinstance(value, str) and is_absolute_path(value):
        return (PureWindowsPath if _WINDOWS_ABSOLUTE.match(value) else PurePosixPath)(value).name
    return value


def dumps(manifest: dict[str, Any]) -> str:
    return json.dumps(portable(manifest), indent=2, sort_keys=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a manifest")
