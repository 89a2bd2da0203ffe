"""The registry of supported layers and what each pipeline stage can do with them.

Every stage asks this registry instead of keeping its own list, so adding a layer is
one entry here (plus its tests, which are parametrized over :data:`SUPPORTED`).

Example:
    >>> LAYERS["LSTM"].fused_export
    True
    >>> sorted(SUPPORTED)[:3]
    ['Activation', 'Add', 'AveragePooling1D']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import UnsupportedLayerError


@dataclass(frozen=True)
class LayerSupport:
    """What lstm-deploy can do with one Keras layer class (``None`` means yes; a string says why not)."""

    magnitude_prune: str | None = "has no prunable weights"
    unit_prune: str | None = "not an LSTM layer"
    qat: str | None = None
    fused_export: bool = True
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
    "GRU": LayerSupport(
        magnitude_prune=None,
        unit_prune="unit pruning is implemented for LSTM only",
        qat="QAT configs exist for LSTM, not GRU",
        fused_export=False,
        note="TFLite has no fused GRU op",
    ),
    "Embedding": _WEIGHTED,
    "Masking": LayerSupport(qat="QAT refuses masked models (the mask changes the recurrence QAT simulates)",
                            note="exported with an explicit length input for post-padded sequences"),
    "Dense": _WEIGHTED,
    "TimeDistributed": LayerSupport(magnitude_prune=None, qat="passes through QAT unquantized", note="wraps Dense"),
    "Dropout": LayerSupport(note="identity at inference"),
    "SpatialDropout1D": LayerSupport(note="identity at inference"),
    "Conv1D": _WEIGHTED,
    "MaxPooling1D": _NO_WEIGHTS,
    "AveragePooling1D": _NO_WEIGHTS,
    "GlobalMaxPooling1D": _NO_WEIGHTS,
    "GlobalAveragePooling1D": _NO_WEIGHTS,
    "BatchNormalization": LayerSupport(magnitude_prune="normalization statistics are not pruned", qat="passes through QAT unquantized"),
    "LayerNormalization": LayerSupport(magnitude_prune="normalization weights are not pruned", qat="passes through QAT unquantized"),
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
