"""The registry of supported layers, what pruning can do with them, and when exports fuse.

Every stage asks this registry instead of keeping its own list, so adding a layer is
one entry here (plus its tests, which are parametrized over :data:`SUPPORTED`). QAT keeps
its own registry (:mod:`lstm_deploy.compress.qat.registry`), which ``inspect`` reads directly.

:func:`fusion_problems` says, per export format, why a recurrent layer would *not* become
one fused sequence op (TFLite ``UNIDIRECTIONAL_SEQUENCE_LSTM``, ONNX ``LSTM`` / ``GRU``).
Those are facts about the converters (TensorFlow 2.21's TFLite converter, tf2onnx 1.17),
measured configuration by configuration; ``tests/load/test_inspect_truth.py`` converts
every zoo model and fails when a rule here and a real conversion disagree.

Example:
    >>> sorted(SUPPORTED)[:3]
    ['Activation', 'Add', 'AveragePooling1D']
    >>> fusion_problems_of_config("LSTM", {"activation": "relu", "recurrent_activation": "sigmoid", "use_bias": True})["onnx"] is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import UnsupportedLayerError


@dataclass(frozen=True)
class LayerSupport:
    """What pruning can do with one Keras layer class (``None`` means yes; a string says why not)."""

    magnitude_prune: str | None = "has no prunable weights"
    unit_prune: str | None = "not an LSTM layer"
    note: str = ""


_NO_WEIGHTS = LayerSupport()
_WEIGHTED = LayerSupport(magnitude_prune=None)
_LSTM = LayerSupport(magnitude_prune=None, unit_prune=None)

LAYERS: dict[str, LayerSupport] = {
    "InputLayer": _NO_WEIGHTS,
    "LSTM": _LSTM,
    "Bidirectional": LayerSupport(magnitude_prune=None, unit_prune=None, note="wraps an LSTM (or GRU)"),
    "RNN": LayerSupport(
        magnitude_prune="canonicalized to LSTM first",
        unit_prune="canonicalized to LSTM first",
        note="RNN(LSTMCell) and RNN(StackedRNNCells([LSTMCell...])) are rewritten to LSTM layers",
    ),
    "GRU": LayerSupport(magnitude_prune=None, unit_prune="unit pruning is implemented for LSTM only", note="TFLite has no fused GRU op"),
    "Embedding": _WEIGHTED,
    "Masking": LayerSupport(note="exported with an explicit length input for post-padded sequences"),
    "Dense": _WEIGHTED,
    "TimeDistributed": LayerSupport(magnitude_prune=None, note="wraps Dense"),
    "Dropout": LayerSupport(note="identity at inference"),
    "SpatialDropout1D": LayerSupport(note="identity at inference"),
    "Conv1D": _WEIGHTED,
    "MaxPooling1D": _NO_WEIGHTS,
    "AveragePooling1D": _NO_WEIGHTS,
    "GlobalMaxPooling1D": _NO_WEIGHTS,
    "GlobalAveragePooling1D": _NO_WEIGHTS,
    # 2-D image layers: the CNN encoder of a captioner (or any image -> LSTM model)
    "Conv2D": _WEIGHTED,
    "MaxPooling2D": _NO_WEIGHTS,
    "AveragePooling2D": _NO_WEIGHTS,
    "GlobalAveragePooling2D": _NO_WEIGHTS,
    "GlobalMaxPooling2D": _NO_WEIGHTS,
    "BatchNormalization": LayerSupport(magnitude_prune="normalization statistics are not pruned"),
    "LayerNormalization": LayerSupport(magnitude_prune="normalization weights are not pruned"),
    "Flatten": _NO_WEIGHTS,
    "Reshape": _NO_WEIGHTS,
    "Concatenate": _NO_WEIGHTS,
    "Add": _NO_WEIGHTS,
    "Activation": _NO_WEIGHTS,
}

#: Class names accepted anywhere in a model (InputLayer is implicit).
SUPPORTED = frozenset(name for name in LAYERS if name != "InputLayer")

#: Layers accepted inside ``Bidirectional`` and ``TimeDistributed``.
SUPPORTED_WRAPPED = {"Bidirectional": frozenset({"LSTM", "GRU", "RNN"}), "TimeDistributed": frozenset({"Dense", "Conv1D", "Dropout"})}


def wrapped_layer(layer: Any) -> Any | None:
    """The layer inside a Bidirectional/TimeDistributed wrapper (both flavours), else ``None``."""
    cls = layer.__class__.__name__
    if cls == "Bidirectional":
        return getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
    if cls == "TimeDistributed":
        return getattr(layer, "layer", None)
    return None


def supported_list() -> str:
    """The supported set as one readable line."""
    return ", ".join(sorted(SUPPORTED))


def check_supported(layers: Iterable[Any]) -> None:
    """Raise :class:`UnsupportedLayerError` for the first layer lstm-deploy cannot handle.

    ``layers`` are Keras layer objects (either flavour), in model order. The message
    names the layer, its class, its position and the supported set.
    """
    for position, layer in enumerate(layers):
        cls = layer.__class__.__name__
        if cls not in LAYERS:
            raise UnsupportedLayerError(
                f"layer {position} '{layer.name}' ({cls}) is not supported; supported layers: {supported_list()}"
            )
        inner = wrapped_layer(layer)
        if inner is not None and inner.__class__.__name__ not in SUPPORTED_WRAPPED[cls]:
            raise UnsupportedLayerError(
                f"layer {position} '{layer.name}' is {cls}({inner.__class__.__name__}); {cls} is supported around "
                f"{', '.join(sorted(SUPPORTED_WRAPPED[cls]))} only"
            )
        if cls == "RNN" or (cls == "Bidirectional" and inner is not None and inner.__class__.__name__ == "RNN"):
            rnn = layer if cls == "RNN" else inner
            _check_cell(position, layer.name, rnn.cell)


def _check_cell(position: int, name: str, cell: Any) -> None:
    cells = getattr(cell, "cells", None)
    for c in cells if cells is not None else [cell]:
        if c.__class__.__name__ != "LSTMCell":
            raise UnsupportedLayerError(
                f"layer {position} '{name}' is an RNN over {c.__class__.__name__}; only RNN(LSTMCell) and "
                "RNN(StackedRNNCells([LSTMCell, ...])) are supported -- use keras.layers.LSTM/GRU layers instead"
            )


# ---------------------------------------------------------------- fused export

#: Formats whose fusion ``inspect`` reports, in the order it reports them.
FUSION_FORMATS = ("tflite", "onnx")
#: Activations tf2onnx's LSTM rewriter maps onto the ONNX ``LSTM`` op (measured; ``linear``, ``elu``,
#: ``softsign``, ``softplus``, ``selu``, ``swish`` and ``exponential`` become a ``Loop``).
ONNX_LSTM_ACTIVATIONS = frozenset({"tanh", "sigmoid", "relu", "hard_sigmoid"})


def _activation(value: Any) -> str:
    return value if isinstance(value, str) else getattr(value, "__name__", str(value))


def _both(reason: str) -> dict[str, str | None]:
    return {fmt: reason for fmt in FUSION_FORMATS}


def fusion_problems_of_config(kind: str, cfg: dict[str, Any]) -> dict[str, str | None]:
    """Why TFLite / ONNX would not fuse one recurrent direction of ``kind`` (``LSTM``/``GRU``) with config ``cfg``.

    ``cfg`` holds the layer (or cell) arguments: activation, recurrent_activation, use_bias,
    recurrent_dropout, unroll, return_state, reset_after. ``None`` means the format fuses it.
    """
    act, rec = _activation(cfg.get("activation", "tanh")), _activation(cfg.get("recurrent_activation", "sigmoid"))
    if cfg.get("unroll"):
        return _both("unroll=True unrolls the recurrence into per-step ops (no sequence op; larger and slower)")
    if cfg.get("recurrent_dropout", 0.0):
        return _both("recurrent_dropout > 0 keeps the generic RNN loop (TFLite WHILE / ONNX Loop) even at inference")
    if kind == "GRU":
        default = act == "tanh" and rec == "sigmoid" and cfg.get("use_bias", True) and cfg.get("reset_after", True)
        return {"tflite": "no fused GRU op (runs as a WHILE loop)",
                "onnx": None if default else "tf2onnx fuses only the default GRU (tanh/sigmoid, use_bias, reset_after): a Loop"}
    out: dict[str, str | None] = {"tflite": None, "onnx": None}
    tflite = []
    if (act, rec) != ("tanh", "sigmoid"):
        tflite.append(f"activation={act!r}, recurrent_activation={rec!r} (the fused kernel needs tanh/sigmoid)")
    if not cfg.get("use_bias", True):
        tflite.append("use_bias=False")
    if cfg.get("return_state"):
        tflite.append("return_state=True")
    if tflite:
        out["tflite"] = "runs as a WHILE loop: " + ", ".join(tflite)
    if act not in ONNX_LSTM_ACTIVATIONS or rec not in ONNX_LSTM_ACTIVATIONS:
        out["onnx"] = f"runs as a Loop: tf2onnx fuses LSTMs with {'/'.join(sorted(ONNX_LSTM_ACTIVATIONS))} activations only"
    return out


def recurrent_directions(layer: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(kind, config)`` of every recurrent direction in ``layer`` as the exporter sees it, else ``[]``.

    A Bidirectional layer has two; ``RNN(LSTMCell)`` / ``RNN(StackedRNNCells)`` are canonicalized
    to one LSTM per cell (the cell's arguments plus the RNN's ``unroll`` / ``return_state``).
    """
    cls = layer.__class__.__name__
    if cls in ("LSTM", "GRU"):
        return [(cls, layer.get_config())]
    if cls == "Bidirectional":
        return [d for sub in (layer.forward_layer, layer.backward_layer) for d in recurrent_directions(sub)]
    if cls == "RNN":
        cells = getattr(layer.cell, "cells", None) or [layer.cell]
        outer = {k: v for k, v in layer.get_config().items() if k in ("unroll", "return_state")}
        return [("LSTM" if c.__class__.__name__ == "LSTMCell" else c.__class__.__name__, {**c.get_config(), **outer}) for c in cells]
    return []


def fusion_problems(layer: Any) -> dict[str, str | None]:
    """Per export format, why ``layer`` would not become fused sequence ops (``None``: it fuses; non-recurrent: ``{}``)."""
    out: dict[str, str | None] = {}
    for kind, cfg in recurrent_directions(layer):
        for fmt, why in fusion_problems_of_config(kind, cfg).items():
            out[fmt] = out.get(fmt) or why
    return out
