"""Find what to benchmark: Keras models, ``.tflite`` / ``.onnx`` artifacts, directories of them.

Each artifact's manifest (``<artifact>.json``, written by ``lstm-deploy export``) is
read when present for its quantization mode and source model; without one the
benchmark still runs, and the input shape is read from the artifact itself.

Example:
    >>> arts = discover(["model.keras", "exported/"])              # doctest: +SKIP
    >>> [(a.name, a.format, a.quantization) for a in arts]         # doctest: +SKIP
    [('model.keras', 'keras', 'fp32'), ('model_int8.tflite', 'tflite', 'int8')]
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError

FORMAT_BY_SUFFIX = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras", ".h5": "keras", ".hdf5": "keras"}


@dataclass(frozen=True)
class Artifact:
    """One thing to measure and what is known about it."""

    path: Path
    format: str
    name: str
    size_bytes: int
    gzip_bytes: int
    sha256: str
    quantization: str = "unknown"
    manifest: dict[str, Any] | None = field(default=None, repr=False)
    source_path: str | None = None
    source_sha256: str | None = None
    input_shape: tuple[int | None, ...] | None = None
    n_inputs: int | None = None
    #: every input's shape including batch, by name (signature names for LiteRT), in the artifact's order; None for Keras
    input_shapes: dict[str, tuple[int | None, ...]] | None = field(default=None, repr=False)

    @property
    def input_names(self) -> list[str] | None:
        """The named inputs of a model with several inputs (a captioner; from its manifest), else None."""
        names = (self.manifest or {}).get("input_names")
        return list(names) if names and len(names) > 1 else None

    @property
    def skip_reason(self) -> str | None:
        """Why this artifact cannot be benchmarked (inputs other than one sequence tensor), else None.

        Streaming exports are timed (per step and per stepped-through sequence); masked exports
        take the model's one input, or x plus the ``lengths`` the runtime derives (``--lengths-input``);
        models with several inputs whose manifest names them (``input_names``) take ``x_test__<name>`` arrays.
        """
        if self.manifest is not None and self.manifest.get("streaming"):
            return None
        masked = self.manifest is not None and bool(self.manifest.get("masking"))
        named = self.input_names is not None and len(self.input_names) == self.n_inputs  # one x_test__<name> array per input
        if self.n_inputs is not None and self.n_inputs != 1 and not (masked and self.n_inputs == 2) and not named:
            return f"has {self.n_inputs} inputs; the benchmark feeds x_test to single-input sequence models"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": str(self.path), "format": self.format, "quantization": self.quantization,
            "size_bytes": self.size_bytes, "gzip_bytes": self.gzip_bytes, "sha256": self.sha256,
            "has_manifest": self.manifest is not None, "source_path": self.source_path,
            "source_sha256": self.source_sha256,
            "input_shape": None if self.input_shape is None else list(self.input_shape), "n_inputs": self.n_inputs,
        }


def discover(inputs: Iterable[str | Path]) -> list[Artifact]:
    """Expand files and directories into artifacts (directories: every known file inside, sorted)."""
    paths: list[Path] = []
    given = [Path(p) for p in inputs]
    if not given:
        raise InputError("MODEL_OR_ARTIFACT_OR_DIR: expected at least one Keras model, .tflite/.onnx artifact or directory")
    for p in given:
        if not p.exists():
            raise InputError(f"{p}: does not exist; expected a Keras model (.keras/.h5), an artifact (.tflite/.onnx) or a directory of them")
        if p.is_dir() and not (p / "saved_model.pb").exists():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in FORMAT_BY_SUFFIX
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                raise InputError(f"{p}: directory holds no .keras/.h5/.tflite/.onnx file")
            paths.extend(found)
        elif p.is_dir() or p.suffix.lower() in FORMAT_BY_SUFFIX:
            paths.append(p)
        else:
            raise InputError(f"{p}: unknown file type '{p.suffix or '(none)'}'; expected one of {', '.join(FORMAT_BY_SUFFIX)} or a directory")
    unique = list(dict.fromkeys(p.resolve() for p in paths))
    names = _display_names(unique)
    return [_describe(p, names[p]) for p in unique]


def _display_names(paths: list[Path]) -> dict[Path, str]:
    names: dict[Path, str] = {}
    for p in paths:
        name, parent = p.name, p.parent
        while name in names.values() and parent != parent.parent:
            name, parent = f"{parent.name}/{name}", parent.parent
        names[p] = name
    return names


def _file_bytes(path: Path) -> bytes:
    if path.is_dir():
        return b"".join(f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file())
    return path.read_bytes()


def _describe(path: Path, name: str) -> Artifact:
    fmt = "keras" if path.is_dir() else FORMAT_BY_SUFFIX[path.suffix.lower()]
    data = _file_bytes(path)
    manifest = read_manifest(path)
    quant = _quantization(manifest) or ("fp32" if fmt == "keras" else "unknown")
    src_path, src_sha = _source(manifest, path)
    return Artifact(
        path=path, format=fmt, name=name, size_bytes=len(data), gzip_bytes=len(gzip.compress(data, 9, mtime=0)),
        sha256=_sha256(path, data), quantization=quant, manifest=manifest,
        source_path=str(src_path) if src_path else None, source_sha256=str(src_sha) if src_sha else None,
        **_signature(path, fmt),
    )


def _source(manifest: dict[str, Any] | None, artifact: Path) -> tuple[str | None, str | None]:
    """Source model path and SHA-256 from a manifest's ``source_model`` (or ``source``) entry.

    lstm-deploy manifests name the source by file name and SHA-256 (no absolute paths); a
    relative path is tried from the working directory, then from the artifact's folder.
    """
    src_path = src_sha = None
    for key in ("source_model", "source"):
        value = (manifest or {}).get(key)
        if isinstance(value, dict):
            src_path, src_sha = value.get("path") or value.get("file"), value.get("sha256")
        elif isinstance(value, str):
            src_path = value
        if src_path or src_sha:
            break
    src_sha = src_sha or (manifest or {}).get("source_sha256")
    if src_path and not Path(src_path).is_absolute() and not Path(src_path).exists() and (artifact.parent / src_path).exists():
        src_path = str(artifact.parent / src_path)
    return (str(src_path) if src_path else None), (str(src_sha) if src_sha else None)


def _sha256(path: Path, data: bytes) -> str:
    if path.is_dir():
        from ..load.modelio import file_sha256

        return file_sha256(path)
    return hashlib.sha256(data).hexdigest()


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest beside ``path`` (``X.tflite.json`` or ``X.json``), or None when there is none."""
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file() and candidate != path:
            try:
                value = json.loads(candidate.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"{candidate}: manifest is not valid JSON ({exc}); fix or delete it") from None
            if not isinstance(value, dict):
                raise InputError(f"{candidate}: manifest must be a JSON object, found {type(value).__name__}")
            return value
    return None


def _quantization(manifest: dict[str, Any] | None) -> str | None:
    if not manifest:
        return None
    for key in ("quantization", "quantize", "mode"):
        value = manifest.get(key)
        if isinstance(value, dict):
            value = value.get("mode") or value.get("name")
        if isinstance(value, str) and value:
            return value
    return None


def input_signature(path: Path, fmt: str) -> tuple[tuple[int | None, ...] | None, int | None]:
    """The sequence input's shape including batch (None = dynamic) and the number of inputs; (None, None) for Keras."""
    sig = _signature(path, fmt)
    return sig["input_shape"], sig["n_inputs"]


def _signature(path: Path, fmt: str) -> dict[str, Any]:
    """``input_shape`` (shape including batch, None = dynamic, of the input with the highest rank: a masked export
    adds a rank-1 lengths input), ``n_inputs`` and ``input_shapes`` (every input by name, in the artifact's order).

    LiteRT inputs are named as its signature names them (what :class:`lstm_deploy.runtime.Model` feeds),
    those of a model without a signature by tensor name. All three are None for Keras models.
    """
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        try:
            interpreter = Interpreter(model_path=str(path))
            details = interpreter.get_input_details()
            named = interpreter.get_signature_runner().get_input_details() if interpreter.get_signature_list() else None
        except (RuntimeError, ValueError) as exc:
            raise InputError(f"{path}: not a loadable .tflite file ({str(exc).splitlines()[0]})") from None
        main = max(details, key=lambda d: len(d["shape"])) if details else None
        shapes = {name: tuple(int(d) for d in detail["shape"]) for name, detail in (named or {d["name"]: d for d in details}).items()}
        return {"input_shape": tuple(int(d) for d in main["shape"]) if main is not None else None, "n_inputs": len(details),
                "input_shapes": shapes}
    if fmt == "onnx":
        import onnx

        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf raises DecodeError and others for corrupt files
            raise InputError(f"{path}: not a loadable .onnx file ({exc.__class__.__name__}: {exc})") from None
        initializers = {i.name for i in model.graph.initializer}
        inputs = [i for i in model.graph.input if i.name not in initializers]
        shapes = {i.name: tuple(d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim) for i in inputs}
        main = max(shapes.values(), key=len) if inputs else None
        return {"input_shape": main, "n_inputs": len(inputs), "input_shapes": shapes}
    return {"input_shape": None, "n_inputs": None, "input_shapes": None}
