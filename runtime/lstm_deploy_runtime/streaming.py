"""Streaming artifacts (exported with ``--streaming``): one time step per call, h/c state carried explicitly.

``model`` below is a :class:`~.model.Model` (not imported here: ``model`` imports this module).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .batching import fixed_batches
from .errors import RuntimeError_
from .tensors import dequantize, quantize


class Stream:
    """One sequence in progress on a streaming artifact, h/c state carried explicitly.

    ``step(x_t)`` takes ``(batch, features)`` (or ``(features,)``) and returns the output after
    that step; ``reset()`` starts a new sequence. Give each thread or session its own Stream
    (they share the Model safely); calls on one Stream are serialized.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self._states: list[dict[str, str]] = list((model.streaming or {}).get("states", []))
        self._lock = threading.Lock()
        self.state: dict[str, np.ndarray] | None = None  # zeros of the first step's batch, made at that step

    def reset(self) -> None:
        """Zero every h/c state (start of a new sequence)."""
        with self._lock:
            self.state = None

    def step(self, x_t: np.ndarray) -> np.ndarray:
        """Advance one step and return the output for it."""
        model, backend = self._model, self._model._backend
        info = backend.inputs[model.input_name]
        x_t = step_input(model, x_t)
        single = x_t.ndim == len(info.shape) - 1
        x_t = model.check_input(x_t[None] if single else x_t)
        if model.batch_size is not None and len(x_t) != model.batch_size:
            raise RuntimeError_(f"step input has batch {len(x_t)}; {model.path.name} was exported with batch {model.batch_size}")
        with self._lock:
            if self.state is None:
                self.state = {s["input"]: np.zeros((len(x_t), *backend.inputs[s["input"]].shape[1:]), np.float32) for s in self._states}
            elif self._states and len(self.state[self._states[0]["input"]]) != len(x_t):
                raise RuntimeError_(f"step input has batch {len(x_t)} but this sequence started with another batch; call reset() first")
            out = backend.run({model.input_name: quantize(x_t, info), **self.state}, reset=False)
            self.state = {s["input"]: out[s["output"]] for s in self._states}
        y = dequantize(out[model.output_name], backend.outputs[model.output_name])
        return y[0] if single else y


def step_batches(model: Any, x: np.ndarray) -> np.ndarray:
    """Step every whole sequence of ``x`` through ``model.stream()``: outputs ``(n, time, ...)``, one per step."""
    outs = []
    for xb, n in fixed_batches(np.asarray(x), model.batch_size):
        stream = model.stream()
        outs.append(np.stack([stream.step(xb[:, t]) for t in range(xb.shape[1])], axis=1)[:n])
    return np.concatenate(outs)


def step_input(model: Any, x_t: Any) -> np.ndarray:
    """``x_t`` as an array of one time step, or :class:`RuntimeError_` saying what a step looks like.

    Example: a streaming artifact of 3 features takes ``(3,)`` or ``(batch, 3)``; a whole
    sequence ``(time, 3)`` of the wrong width, or ``(1, time, 3)``, names ``stream_predict``.
    """
    info = model._backend.inputs[model.input_name]
    features = tuple(info.shape[1:])
    try:
        arr = np.asarray(x_t)
    except (ValueError, TypeError):
        raise RuntimeError_(f"step input is ragged or not numbers; expected one time step shaped {features} or (batch, "
                            f"{', '.join(map(str, features))})") from None
    want = ", ".join(map(str, features))
    if arr.ndim not in (len(features), len(features) + 1) or tuple(arr.shape[-len(features):]) != features:
        hint = (" (that looks like whole sequences: use model.stream_predict(x) or feed x[:, t] step by step)"
                if arr.ndim == len(features) + 2 or (arr.ndim >= 1 and arr.shape[-1:] == features[-1:]) else "")
        raise RuntimeError_(f"step input has shape {arr.shape}; {model.path.name} takes one time step: ({want}) or (batch, {want}){hint}")
    return arr
