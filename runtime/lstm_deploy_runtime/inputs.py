"""Models with several named inputs (captioners): ``{input name: array}`` checked per input, batched together.

``model`` below is a :class:`~.model.Model` (not imported here: ``model`` imports this module).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .batching import fixed_batches
from .errors import RuntimeError_
from .tensors import dequantize, quantize


def check_inputs(model: Any, feeds: Any) -> dict[str, np.ndarray]:
    """``feeds`` (``{input name: array}``) as the arrays ``model`` takes, or :class:`RuntimeError_` naming the input.

    Same checks as :meth:`Model.check_input`, per input: numbers, shape ``(n, *sample)`` with one
    ``n`` for all, finite floats, token ids within the input's range.
    """
    names = list(model.manifest.get("input_names") or [model.input_name])
    if not isinstance(feeds, dict):
        raise RuntimeError_(f"{model.path.name} takes several inputs; pass a dict {{{', '.join(repr(n) for n in names)}: array}}")
    if sorted(feeds) != sorted(names):
        raise RuntimeError_(f"inputs {sorted(feeds)} do not match {model.path.name}'s inputs {names}")
    ranges = model.manifest.get("input_ranges") or {}
    out: dict[str, np.ndarray] = {}
    for name in names:
        info = model._backend.inputs[name]
        expected = ", ".join(str(e) for e in info.shape[1:])
        arr = np.asarray(feeds[name]) if not isinstance(feeds[name], list) else np.array(feeds[name], dtype=object)
        try:
            arr = arr.astype(np.float64) if arr.dtype.kind == "O" else arr
        except (ValueError, TypeError):
            pass
        if arr.dtype.kind not in "iuf":
            raise RuntimeError_(f"input {name!r} is of dtype {arr.dtype}; expected numbers in an array of shape (n, {expected})")
        if arr.ndim != len(info.shape) or any(e is not None and e != g for e, g in zip(info.shape[1:], arr.shape[1:])):
            raise RuntimeError_(f"input {name!r} has shape {arr.shape}; {model.path.name} expects (n, {expected})")
        if np.dtype(info.dtype).kind == "f" or info.quantized:
            wanted = arr.astype(np.float32 if info.quantized else info.dtype)
            if not np.isfinite(wanted).all():
                raise RuntimeError_(f"input {name!r} holds non-finite values; expected finite {wanted.dtype} numbers")
            out[name] = wanted
            continue
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise RuntimeError_(f"input {name!r} holds fractions; {model.path.name} takes whole numbers ({info.dtype} token ids)")
        low, high = ranges.get(name) or (np.iinfo(info.dtype).min, np.iinfo(info.dtype).max)
        if arr.size and (arr.min() < low or arr.max() > high):
            raise RuntimeError_(f"input {name!r} holds {arr.min() if arr.min() < low else arr.max():g}; it takes values from {low} to {high}")
        out[name] = arr.astype(info.dtype)
    if len({len(a) for a in out.values()}) > 1:
        raise RuntimeError_(f"inputs have different numbers of rows: {', '.join(f'{k}: {len(v)}' for k, v in out.items())}")
    return out


def predict_inputs(model: Any, feeds: Any, *, chunk: int = 256) -> np.ndarray:
    """Run a model with several named inputs on ``{input name: (n, ...) array}``; the output for each of the ``n`` rows.

    Example:
        >>> probs = Model.load("captioner.fp32.onnx").predict({"image": images, "tokens": prefixes})   # doctest: +SKIP
    """
    arrays = check_inputs(model, feeds)
    outs = []
    for batch, n in fixed_batches(arrays, model.batch_size, chunk=chunk):
        feed = {name: quantize(arr, model._backend.inputs[name]) for name, arr in batch.items()}
        y = model._backend.run(feed, reset=True)[model.output_name]
        outs.append(dequantize(y, model._backend.outputs[model.output_name])[:n])
    return model._join(outs)


def run_all(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of one call (quantized I/O handled), state reset first."""
    backend = model._backend
    out = backend.run({k: quantize(np.asarray(v), backend.inputs[k]) for k, v in feeds.items()}, reset=True)
    return {k: dequantize(v, backend.outputs[k]) for k, v in out.items()}
