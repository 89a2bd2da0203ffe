"""Read and validate the ``<artifact>.json`` manifest, and check the artifact against it.

A manifest is refused at load, before any request, when it is over :data:`MAX_BYTES`, nested
deeper than :data:`MAX_DEPTH`, breaks the schema (:data:`.schema.MANIFEST`), was written for a
newer runtime (``format_version`` above :data:`FORMAT_VERSION`), or disagrees with itself
(``masking.lengths_input`` not an input, ``input_ranges`` of inputs it does not have). All of it
raises :class:`~.errors.ManifestError`; a file whose SHA-256 is not the manifest's
``artifact_sha256`` raises :class:`~.errors.ArtifactMismatchError`.

Example:
    >>> validate_manifest({"format": "onnx", "labels": [float("nan")]}, "m.json")
    Traceback (most recent call last):
    ...
    lstm_deploy_runtime.errors.ManifestError: manifest m.json: labels[0] is nan; expected a string of at most 1000 characters or a finite number
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import ArtifactMismatchError, ManifestError, RuntimeError_
from .schema import MANIFEST
from .tokenizers import pattern_name

MANIFEST_SUFFIX = ".json"
#: the manifest format this runtime reads; lstm-deploy 0.2.0 wrote none (read as 1), 0.3.0 writes 2
FORMAT_VERSION = 2
MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 32


def manifest_file(path: str | Path) -> Path:
    """Where the manifest of artifact ``path`` lives: the artifact path plus ``.json``."""
    return Path(str(path) + MANIFEST_SUFFIX)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and validate the ``<artifact>.json`` manifest that sits beside ``path`` (:class:`ManifestError` when it is unusable)."""
    mpath = manifest_file(path)
    if not mpath.exists():
        raise RuntimeError_(f"manifest {mpath} not found; artifacts are loaded together with the .json lstm-deploy export writes beside them")
    size = mpath.stat().st_size
    if size > MAX_BYTES:
        raise ManifestError(f"manifest {mpath} is {size} bytes; a manifest is at most {MAX_BYTES} bytes -- re-export the model")
    with mpath.open("rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    return parse_manifest(data, str(mpath))


def parse_manifest(data: bytes | str, where: str = "manifest") -> dict[str, Any]:
    """Manifest text -> a validated dict (size, JSON, depth, schema, format version)."""
    if len(data) > MAX_BYTES:
        raise ManifestError(f"manifest {where} is over {MAX_BYTES} bytes; re-export the model")
    try:
        manifest = json.loads(data)
    except RecursionError:
        raise ManifestError(f"manifest {where} is nested deeper than {MAX_DEPTH} levels; re-export the model") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest {where} is not valid JSON ({exc}); re-export the model") from None
    return validate_manifest(manifest, where)


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            todo.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def validate_manifest(manifest: Any, where: str = "manifest") -> dict[str, Any]:
    """``manifest`` when it passes the schema and its own cross-checks; :class:`ManifestError` naming the field otherwise."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"manifest {where} must be a JSON object, got {type(manifest).__name__}; re-export the model")
    if _depth(manifest) > MAX_DEPTH:
        raise ManifestError(f"manifest {where} is nested deeper than {MAX_DEPTH} levels; re-export the model")
    version = manifest.get("format_version", 1)
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        from . import __version__

        raise ManifestError(f"manifest {where} has format_version {version} (written by lstm-deploy "
                            f"{manifest.get('lstm_deploy_version', '?')}); this lstm-deploy-runtime {__version__} reads format "
                            f"{FORMAT_VERSION} and older -- upgrade it: pip install -U lstm-deploy-runtime")
    try:
        MANIFEST.check({"format_version": 1, **manifest}, "manifest")
        _cross_check(manifest)
    except ManifestError as exc:
        raise ManifestError(f"manifest {where}: {str(exc).removeprefix('manifest.')}") from None
    return manifest


def _cross_check(m: dict[str, Any]) -> None:
    """What the schema cannot say alone: fields that must agree with each other."""
    declared = [t["name"] for t in m.get("inputs") or []]
    names = m.get("input_names") or []
    lengths = (m.get("masking") or {}).get("lengths_input")
    if lengths and declared and lengths not in declared:
        raise ManifestError(f"masking.lengths_input names {lengths!r}, which is not an input ({', '.join(declared)})")
    if declared and any(n not in declared for n in names):
        raise ManifestError(f"input_names {names} are not all inputs ({', '.join(declared)})")
    for name in m.get("input_ranges") or {}:
        if names and name not in names:
            raise ManifestError(f"input_ranges names {name!r}, which is not one of input_names {names}")
    pre = m.get("preprocessing") or {}
    if "mean" in pre and "std" in pre and len(pre["mean"]) != len(pre["std"]):
        raise ManifestError(f"preprocessing.mean has {len(pre['mean'])} channels but preprocessing.std {len(pre['std'])}")
    if "tokenizer" in pre:
        pattern_name(pre["tokenizer"])
    if m.get("format_version", 1) >= 2 and m.get("artifact") and not m.get("artifact_sha256"):
        raise ManifestError("artifact_sha256 is missing; a manifest of format 2 records the SHA-256 of its artifact")


def check_against_artifact(m: dict[str, Any], inputs: dict[str, Any], outputs: dict[str, Any], path: Path) -> None:
    """Every input, output and state the manifest names exists in the artifact (:class:`ManifestError` otherwise)."""
    wanted_in = [("input_name", m.get("input_name"))] + [("input_names", n) for n in m.get("input_names") or []]
    wanted_in += [("masking.lengths_input", (m.get("masking") or {}).get("lengths_input"))]
    wanted_in += [("streaming.states", s["input"]) for s in (m.get("streaming") or {}).get("states", [])]
    wanted_out = [("output_name", m.get("output_name"))] + [("streaming.states", s["output"]) for s in (m.get("streaming") or {}).get("states", [])]
    cap = m.get("captioner") or {}
    if cap.get("role") == "decoder":
        wanted_in += [("captioner.token_input", cap["token_input"])] + [("captioner.features", f) for f in cap["features"]]
        wanted_in += [("captioner.states", s["input"]) for s in cap["states"]]
        wanted_out += [("captioner.output", cap["output"])] + [("captioner.states", s["output"]) for s in cap["states"]]
    elif cap.get("role") == "encoder":
        wanted_in += [("captioner.image_input", cap["image_input"])]
    for field, name in wanted_in:
        if name is not None and name not in inputs:
            raise ManifestError(f"manifest of {path}: {field} names input {name!r}, which {path.name} does not have "
                                f"(its inputs: {', '.join(inputs)}); the manifest belongs to another artifact -- re-export the model")
    for field, name in wanted_out:
        if name is not None and name not in outputs:
            raise ManifestError(f"manifest of {path}: {field} names output {name!r}, which {path.name} does not have "
                                f"(its outputs: {', '.join(outputs)}); the manifest belongs to another artifact -- re-export the model")


def verify_artifact(data: bytes, manifest: dict[str, Any], path: Path) -> None:
    """:class:`ArtifactMismatchError` when ``data`` is not the artifact ``manifest`` was written for (its ``artifact_sha256``)."""
    expected = manifest.get("artifact_sha256")
    if not expected:
        return
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise ArtifactMismatchError(f"artifact {path} has SHA-256 {found[:16]}... but its manifest records {expected[:16]}...: the file "
                                    "is not the one that was exported -- restore it or re-export (Model.load(..., verify=False) skips "
                                    "this check for artifacts edited on purpose)")


def plain_manifest(fmt: str, backend: Any) -> dict[str, Any]:
    """What is assumed of an artifact without a manifest (exported by another tool): first input and output, no masking or state."""
    return {"format": fmt, "input_name": next(iter(backend.inputs)), "output_name": next(iter(backend.outputs)),
            "masking": None, "streaming": None}
