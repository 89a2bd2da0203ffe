"""The HTTP contract of a served artifact: what ``POST /predict`` accepts, what it answers, what ``/metadata`` says.

Every request is checked against the artifact's manifest before it reaches the model: a
body that is not JSON, a missing ``x``, a wrong shape, text, booleans, ragged rows,
NaN/Infinity, fractions or unknown ids for token inputs each get a 4xx answer with one
line saying what was expected and what was found -- never a 5xx and never a wrong answer.

An artifact with several inputs (its manifest lists ``input_names``, e.g. an image captioner
taking ``image`` and ``tokens``) takes ``{"x": {"image": ..., "tokens": ...}}``: every input
one sample, or every input a list of the same number of samples; each input is checked as a
single input is (its shape, numbers, finite, token ids within ``input_ranges[name]``) and a
refusal names the input. Its ``/metadata`` lists every input under ``inputs``; its ``input``
then holds the input names, the body and the batching rule, and no ``shape``. (Single-input
artifacts keep ``input`` as it was and list their one input under ``inputs`` too.)

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

from ..runtime import Model, RuntimeError_, check_inputs, lengths_from_padding


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


def _shown(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _json_array(x: Any, expected: tuple[int | None, ...], label: str, noun: str, max_sequences: int) -> tuple[np.ndarray, bool]:
    """``x`` from JSON as a numeric ``(n, *expected)`` array, and whether it was one ``noun`` (no batch axis).

    Only the JSON-level checks (a list, not ragged, numbers, the shape); ``label`` names ``x`` in messages.
    """
    shown = _shown(expected)
    if not isinstance(x, list):
        raise RequestError(422, f"{label} is a JSON {type(x).__name__}; expected a {noun} {shown} or a list of them")
    longest = max(max_sequences, expected[0]) if expected and expected[0] is not None else None if expected else max_sequences
    if longest is not None and len(x) > longest:  # too many entries to be one sample or an allowed batch: refused before numpy copies them
        raise RequestError(413, f"{label} holds {len(x)} {noun}s; at most {max_sequences} per request -- split it")
    try:
        arr = np.asarray(x)
    except (ValueError, OverflowError):
        raise RequestError(422, f"{label} is ragged (rows of different lengths) or holds numbers too large; expected {noun}s {shown}") from None
    if arr.dtype.kind not in "iuf":
        what = {"b": "true/false", "U": "text", "O": "nulls, objects, ragged rows or numbers too large"}.get(arr.dtype.kind, str(arr.dtype))
        raise RequestError(422, f"{label} holds {what}; expected numbers in {noun}s {shown}")
    single = arr.ndim == len(expected)
    if single:
        arr = arr[None]
    if arr.ndim != len(expected) + 1 or any(e is not None and e != g for e, g in zip(expected, arr.shape[1:])):
        raise RequestError(422, f"{label} has shape {list(np.shape(x))}; expected one {noun} {shown} or a list of them")
    return arr, single


def _check_count(n: int, label: str, noun: str, max_sequences: int) -> None:
    if n == 0:
        raise RequestError(422, f"{label} holds no {noun}; send at least one")
    if n > max_sequences:
        raise RequestError(413, f"{label} holds {n} {noun}s; at most {max_sequences} per request -- split it")


def to_batch(model: Model, x: Any, max_sequences: int) -> tuple[np.ndarray, bool]:
    """``x`` from JSON as a checked ``(n, *sample)`` array, and whether it was one sequence (no batch axis)."""
    arr, single = _json_array(x, sample_shape(model), "x", "sequence", max_sequences)
    _check_count(len(arr), "x", "sequence", max_sequences)
    try:
        arr = model.check_input(arr)
        if (model.masking or {}).get("lengths_input"):  # checked per request: a bad one must not fail its whole batch
            lengths_from_padding(arr, model.masking)  # type: ignore[arg-type]
    except RuntimeError_ as exc:
        raise RequestError(422, str(exc)) from None
    info = model.inputs[model.input_name]
    dtype = np.float32 if info.quantized or np.dtype(info.dtype).kind == "f" else np.dtype(info.dtype)
    return arr.astype(dtype, copy=False), single


def input_names(model: Model) -> list[str]:
    """The artifact's input names from its manifest: several for e.g. captioners, else the one input."""
    return list(model.manifest.get("input_names") or [model.input_name])


def to_feeds(model: Model, x: Any, max_sequences: int) -> tuple[dict[str, np.ndarray], bool]:
    """``x`` (``{input name: one sample or a list}``) as checked ``{name: (n, ...)}`` arrays, and whether it was one sample.

    For artifacts with several inputs: every input present, no other, the same number of
    samples in each (or one sample, without the batch axis, in each); then per input the
    checks of :func:`to_batch` (numbers, shape, finite floats, token ids within ``input_ranges``).
    """
    names = input_names(model)
    body = "{" + ", ".join(f'"{n}": ...' for n in names) + "}"
    if not isinstance(x, dict):
        raise RequestError(422, f"x is a JSON {type(x).__name__}; {model.path.name} takes several inputs: send {{\"x\": {body}}}")
    missing, unknown = [n for n in names if n not in x], sorted(set(x) - set(names))
    if missing or unknown:
        wrong = f"x has no input {', '.join(map(repr, missing))}" if missing else f"x has unknown input(s) {', '.join(map(repr, unknown))}"
        raise RequestError(422, f"{wrong}; {model.path.name} takes {', '.join(map(repr, names))}: send {{\"x\": {body}}}")
    arrays, singles = {}, {}
    for name in names:
        arrays[name], singles[name] = _json_array(x[name], tuple(model.inputs[name].shape[1:]), f"x[{name!r}]", "sample", max_sequences)
    counts = ", ".join(f"{n}: {'one sample' if singles[n] else len(arrays[n])}" for n in names)
    if len(set(singles.values())) > 1 or len({len(a) for a in arrays.values()}) > 1:
        raise RequestError(422, f"inputs hold different numbers of samples ({counts}); send one sample of every input or lists of the same length")
    _check_count(len(arrays[names[0]]), "x", "sample", max_sequences)
    try:
        feeds = check_inputs(model, arrays)
    except RuntimeError_ as exc:
        raise RequestError(422, str(exc)) from None
    return feeds, singles[names[0]]


def to_request(model: Model, x: Any, max_sequences: int) -> tuple[np.ndarray | dict[str, np.ndarray], bool]:
    """The checked model input of a request's ``x`` (an array, or ``{name: array}`` for several inputs) and whether it was one sample."""
    return to_feeds(model, x, max_sequences) if len(input_names(model)) > 1 else to_batch(model, x, max_sequences)


def answer(model: Model, y: np.ndarray, single: bool) -> dict[str, Any]:
    """The response body: ``y`` (same batching as the request) plus class names when the manifest has labels."""
    out: dict[str, Any] = {"y": (y[0] if single else y).tolist()}
    labels = model.manifest.get("labels")
    if labels and y.ndim == 2 and y.shape[1] == len(labels):
        names = [labels[i] for i in y.argmax(axis=1)]
        out["label" if single else "labels"] = names[0] if single else names
    return out


def _input_entry(model: Model, name: str, value_range: Any) -> dict[str, Any]:
    info = model.inputs[name]
    return {"name": name, "shape": list(info.shape[1:]), "dtype": "float32" if info.quantized else info.dtype,
            "range": value_range, "artifact_dtype": info.dtype}


def _input_section(model: Model) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``input`` and ``inputs`` of ``/metadata``.

    One input: ``input`` as always (shape, dtypes, range, batching). Several inputs: ``input``
    says how to send them (names, body, batching) and has no ``shape`` -- no single shape
    describes the request; ``inputs`` lists every input (name, shape, dtype, range) in both cases.
    """
    m, names = model.manifest, input_names(model)
    if len(names) == 1:
        entry = _input_entry(model, names[0], m.get("input_range"))
        single = {k: v for k, v in entry.items() if k != "name"}
        return {**single, "batching": "send one sequence, or a list of up to max_request_sequences sequences"}, [entry]
    ranges = m.get("input_ranges") or {}
    entries = [_input_entry(model, n, ranges.get(n)) for n in names]
    return {"names": names, "body": '{"x": {' + ", ".join(f'"{n}": ...' for n in names) + "}}",
            "batching": "send one sample of every input, or lists of the same length (up to max_request_sequences) for every input"}, entries


def metadata(model: Model, settings: dict[str, Any]) -> dict[str, Any]:
    """``GET /metadata``: the input/output contract from the manifest, and how this service batches."""
    m = model.manifest
    out = model.outputs[model.output_name]
    single, inputs = _input_section(model)
    return {
        "artifact": model.path.name, "artifact_sha256": m.get("artifact_sha256"), "format": model.format,
        "quantization": m.get("quantization"), "source_model": m.get("source_model"),
        "input": single, "inputs": inputs,
        "output": {"shape": list(out.shape[1:]), "dtype": "float32" if out.quantized else out.dtype, "labels": m.get("labels")},
        "masking": m.get("masking"), "state": m.get("state"), "preprocessing": m.get("preprocessing"),
        "service": settings,
    }
