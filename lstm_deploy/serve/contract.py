"""The HTTP contract of a served artifact: what ``POST /predict`` accepts, what it answers, what ``/metadata`` says.

Every request is checked against the artifact's manifest before it reaches the model: a
body that is not JSON, a missing ``x``, a wrong shape, text, booleans, ragged rows,
NaN/Infinity, fractions or unknown ids for token inputs each get a 4xx answer with one
line saying what was expected and what was found -- never a 5xx and never a wrong answer.

Example:
    >>> parse_body(b'{"x": [1, 2]', max_fields=("x",))
    Traceback (most recent call last):
    ...
    lstm_deploy.serve.contract.RequestError: 400: body is not valid JSON (Expecting ',' delimiter at line 1 column 13); send {"x": [...]}
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..runtime import Model, RuntimeError_, lengths_from_padding


class RequestError(Exception):
    """A request the service refuses: ``status`` (4xx) and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


def _no_constants(name: str) -> Any:
    raise RequestError(422, f"body holds {name}; JSON numbers must be finite")


def parse_body(body: bytes, *, max_fields: tuple[str, ...] = ("x",)) -> dict[str, Any]:
    """The JSON object of a request body (``NaN`` / ``Infinity`` refused while parsing)."""
    try:
        data = json.loads(body, parse_constant=_no_constants)
    except RequestError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = exc.args[0] if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise RequestError(400, f'body is not valid JSON ({detail}); send {{"x": [...]}}') from None
    except RecursionError:
        raise RequestError(400, "body is nested too deeply to be a batch of sequences") from None
    if not isinstance(data, dict):
        raise RequestError(400, f'body is a JSON {type(data).__name__}; send an object {{"x": [...]}}')
    unknown = sorted(set(data) - set(max_fields))
    if unknown:
        raise RequestError(422, f"unknown field(s) {', '.join(map(repr, unknown))}; the body holds only {', '.join(map(repr, max_fields))}")
    if "x" not in data:
        raise RequestError(422, 'missing field "x": a sequence or a list of sequences')
    return data


def sample_shape(model: Model) -> tuple[int | None, ...]:
    """The shape of one sequence the artifact takes (without the batch axis)."""
    return tuple(model.inputs[model.input_name].shape[1:])


def to_batch(model: Model, x: Any, max_sequences: int) -> tuple[np.ndarray, bool]:
    """``x`` from JSON as a checked ``(n, *sample)`` array, and whether it was one sequence (no batch axis)."""
    expected = sample_shape(model)
    shown = "(" + ", ".join("?" if d is None else str(d) for d in expected) + ")"
    if not isinstance(x, list):
        raise RequestError(422, f"x is a JSON {type(x).__name__}; expected a sequence {shown} or a list of them")
    try:
        arr = np.asarray(x)
    except (ValueError, OverflowError):
        raise RequestError(422, f"x is ragged (rows of different lengths) or holds numbers too large; expected sequences {shown}") from None
    if arr.dtype.kind not in "iuf":
        what = {"b": "true/false", "U": "text", "O": "nulls, objects, ragged rows or numbers too large"}.get(arr.dtype.kind, str(arr.dtype))
        raise RequestError(422, f"x holds {what}; expected numbers in sequences {shown}")
    single = arr.ndim == len(expected)
    if single:
        arr = arr[None]
    if arr.ndim != len(expected) + 1 or any(e is not None and e != g for e, g in zip(expected, arr.shape[1:])):
        raise RequestError(422, f"x has shape {list(np.shape(x))}; expected one sequence {shown} or a list of them")
    if len(arr) == 0:
        raise RequestError(422, "x holds no sequence; send at least one")
    if len(arr) > max_sequences:
        raise RequestError(413, f"x holds {len(arr)} sequences; at most {max_sequences} per request -- split it")
    try:
        arr = model.check_input(arr)
        if (model.masking or {}).get("lengths_input"):  # checked per request: a bad one must not fail its whole batch
            lengths_from_padding(arr, model.masking)  # type: ignore[arg-type]
    except RuntimeError_ as exc:
        raise RequestError(422, str(exc)) from None
    info = model.inputs[model.input_name]
    dtype = np.float32 if info.quantized or np.dtype(info.dtype).kind == "f" else np.dtype(info.dtype)
    return arr.astype(dtype, copy=False), single


def answer(model: Model, y: np.ndarray, single: bool) -> dict[str, Any]:
    """The response body: ``y`` (same batching as the request) plus class names when the manifest has labels."""
    out: dict[str, Any] = {"y": (y[0] if single else y).tolist()}
    labels = model.manifest.get("labels")
    if labels and y.ndim == 2 and y.shape[1] == len(labels):
        names = [labels[i] for i in y.argmax(axis=1)]
        out["label" if single else "labels"] = names[0] if single else names
    return out


def metadata(model: Model, settings: dict[str, Any]) -> dict[str, Any]:
    """``GET /metadata``: the input/output contract from the manifest, and how this service batches."""
    m = model.manifest
    info, out = model.inputs[model.input_name], model.outputs[model.output_name]
    return {
        "artifact": model.path.name, "artifact_sha256": m.get("artifact_sha256"), "format": model.format,
        "quantization": m.get("quantization"), "source_model": m.get("source_model"),
        "input": {"shape": list(sample_shape(model)), "dtype": "float32" if info.quantized else info.dtype,
                  "range": m.get("input_range"), "artifact_dtype": info.dtype,
                  "batching": "send one sequence, or a list of up to max_request_sequences sequences"},
        "output": {"shape": list(out.shape[1:]), "dtype": "float32" if out.quantized else out.dtype, "labels": m.get("labels")},
        "masking": m.get("masking"), "state": m.get("state"), "preprocessing": m.get("preprocessing"),
        "service": settings,
    }
