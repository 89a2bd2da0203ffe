"""What is in a model: parameters, MACs, weight memory, signature, and which stages apply.

MACs count the multiply-accumulates of matrix products and convolutions for one
sequence (batch 1); element-wise work (gate activations, normalization) is not
counted, following the usual convention. For an LSTM with ``u`` units over ``T``
steps of ``d`` features that is ``T * 4 * u * (d + u)``.

Example:
    >>> report = inspect_model(model)            # doctest: +SKIP
    >>> report.params == model.count_params()    # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InputError
from .layers import LAYERS, check_supported, wrapped_layer


@dataclass(frozen=True)
class LayerInfo:
    """One layer's row in the report."""

    index: int
    name: str
    type: str
    output_shape: list[int | None]
    params: int
    macs: int
    stages: dict[str, str]  # stage -> "yes" or "no: <why>"


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: list[int | None]
    dtype: str


@dataclass(frozen=True)
class ModelReport:
    """The result of :func:`inspect_model`; ``to_dict()`` is the ``--json`` output."""

    name: str
    flavour: str
    params: int
    trainable_params: int
    macs: int
    seq_len: int | None
    weight_bytes: dict[str, int]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    layers: list[LayerInfo]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shape_list(shape: Any) -> list[int | None]:
    return [None if d is None else int(d) for d in tuple(shape)]


def _tensors(layer: Any, attr: str) -> list[Any]:
    value = getattr(layer, attr)
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _time_steps(shape: list[int | None], seq_len: int | None, layer: Any) -> int:
    steps = shape[1] if len(shape) > 2 else 1
    if steps is None:
        if seq_len is None:
            raise InputError(
                f"layer '{layer.name}' sees a dynamic sequence length; pass --seq-len N (seq_len=N) to count MACs"
            )
        return seq_len
    return int(steps)


def _rnn_macs(layer: Any, in_shape: list[int | None], seq_len: int | None) -> int:
    cls = layer.__class__.__name__
    steps = _time_steps(in_shape, seq_len, layer)
    d = int(in_shape[-1])  # type: ignore[arg-type]
    if cls == "Bidirectional":
        back = getattr(layer, "backward_layer", None)
        return _rnn_macs(layer.forward_layer, in_shape, seq_len) + _rnn_macs(back or layer.forward_layer, in_shape, seq_len)
    cells = [layer.cell] if cls in ("LSTM", "GRU") else list(getattr(layer.cell, "cells", [layer.cell]))
    total = 0
    for cell in cells:
        gates = 3 if cell.__class__.__name__.startswith("GRU") else 4
        total += steps * gates * cell.units * (d + cell.units)
        d = cell.units
    return total


def _layer_macs(layer: Any, seq_len: int | None) -> int:
    cls = layer.__class__.__name__
    inputs = _tensors(layer, "input")
    in_shape = _shape_list(inputs[0].shape)
    if cls in ("LSTM", "GRU", "RNN", "Bidirectional"):
        return _rnn_macs(layer, in_shape, seq_len)
    if cls == "TimeDistributed":
        inner = wrapped_layer(layer)
        if inner.__class__.__name__ == "Dense":
            steps = _time_steps(in_shape, seq_len, layer)
            return steps * int(in_shape[-1]) * inner.units  # type: ignore[arg-type]
        return 0
    if cls == "Dense":
        positions = math.prod(_time_steps(in_shape, seq_len, layer) if i == 1 and d is None else int(d) for i, d in enumerate(in_shape[1:-1], start=1)) if len(in_shape) > 2 else 1
        return positions * int(in_shape[-1]) * layer.units  # type: ignore[arg-type]
    if cls == "Conv1D":
        out_shape = _shape_list(_tensors(layer, "output")[0].shape)
        out_len = out_shape[1] if out_shape[1] is not None else _conv_out_len(layer, _time_steps(in_shape, seq_len, layer))
        groups = getattr(layer, "groups", 1) or 1
        return int(out_len) * layer.kernel_size[0] * (int(in_shape[-1]) // groups) * layer.filters  # type: ignore[arg-type]
    return 0


def _conv_out_len(layer: Any, length: int) -> int:
    k, s, d = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
    span = (k - 1) * d + 1
    if layer.padding == "valid":
        return (length - span) // s + 1
    return math.ceil(length / s)


def _stages(layer: Any, masked: bool) -> dict[str, str]:
    cls = layer.__class__.__name__
    support = LAYERS[cls]
    inner = wrapped_layer(layer)
    inner_cls = inner.__class__.__name__ if inner is not None else None

    def verdict(reason: str | None) -> str:
        return "yes" if reason is None else f"no: {reason}"

    has_weights = bool(layer.weights)
    prune = support.magnitude_prune
    if cls == "TimeDistributed" and inner_cls != "Dense":
        prune = "only TimeDistributed(Dense) is pruned"
    unit = support.unit_prune
    if cls == "Bidirectional" and inner_cls != "LSTM":
        unit = "unit pruning is implemented for LSTM only"
    if cls == "LSTM" and getattr(layer, "return_state", False):
        unit = "return_state outputs would change size"
    qat = support.qat if has_weights else "no weights to quantize"
    if cls == "Bidirectional" and inner_cls == "GRU":
        qat = "QAT configs exist for LSTM, not GRU"
    if cls == "Embedding" and getattr(layer, "mask_zero", False):
        qat = "QAT refuses Embedding(mask_zero) (masked recurrence)"
    if cls in ("LSTM", "Bidirectional") and qat is None:
        lstm = inner if cls == "Bidirectional" else layer
        if getattr(lstm, "stateful", False) or getattr(lstm, "return_state", False):
            qat = "QAT refuses stateful / return_state LSTMs"
    recurrent = cls in ("LSTM", "GRU", "RNN", "Bidirectional")
    if not recurrent:
        fused = "n/a (not recurrent)"
    elif cls == "GRU" or inner_cls == "GRU":
        fused = "no: TFLite has no fused GRU op (ONNX GRU op is used)"
    elif cls == "RNN" and len(getattr(layer.cell, "cells", [layer.cell])) > 1 and layer.return_state:
        fused = "no: stacked cells with return_state are not canonicalized"
    elif masked:
        fused = "yes (masked: explicit length input)"
    else:
        fused = "yes" if cls != "RNN" else "yes (canonicalized to LSTM)"
    return {"magnitude_prune": verdict(prune), "unit_prune": verdict(unit), "qat": verdict(qat), "fused_export": fused}


def _dtype(t: Any) -> str:
    dtype = t.dtype
    return str(getattr(dtype, "name", dtype))


def inspect_model(model: Any, seq_len: int | None = None, flavour: str | None = None) -> ModelReport:
    """Describe ``model`` (either Keras flavour).

    Args:
        model: a built Keras model.
        seq_len: sequence length for MAC counts when the model's is dynamic.
        flavour: shown in the report; inferred when omitted.

    Raises:
        UnsupportedLayerError: a layer outside the supported set.
        InputError: dynamic sequence length without ``seq_len``.
    """
    from .flavours import flavour_of

    if seq_len is not None and seq_len < 1:
        raise InputError(f"--seq-len: expected a positive integer, got {seq_len}")
    check_supported(model.layers)
    masked = any(layer.__class__.__name__ == "Masking" or getattr(layer, "mask_zero", False) for layer in model.layers)
    layers: list[LayerInfo] = []
    for index, layer in enumerate(model.layers):
        if layer.__class__.__name__ == "InputLayer":
            continue
        out = _tensors(layer, "output")[0]
        layers.append(
            LayerInfo(
                index=index,
                name=layer.name,
                type=_describe(layer),
                output_shape=_shape_list(out.shape),
                params=int(layer.count_params()),
                macs=int(_layer_macs(layer, seq_len)),
                stages=_stages(layer, masked),
            )
        )
    params = int(model.count_params())
    trainable = int(sum(math.prod(w.shape) for w in model.trainable_weights))
    notes = []
    if masked:
        notes.append("masked model: exports take post-padded sequences plus a length input")
    return ModelReport(
        name=model.name,
        flavour=flavour or flavour_of(model),
        params=params,
        trainable_params=trainable,
        macs=sum(info.macs for info in layers),
        seq_len=seq_len,
        weight_bytes={"fp32": params * 4, "fp16": params * 2, "int8": params},
        inputs=[TensorInfo(t.name.split(":")[0], _shape_list(t.shape), _dtype(t)) for t in model.inputs],
        outputs=[TensorInfo(name, _shape_list(t.shape), _dtype(t)) for name, t in zip(_output_names(model), model.outputs)],
        layers=layers,
        notes=notes,
    )


def _output_names(model: Any) -> list[str]:
    names = list(getattr(model, "output_names", None) or [])
    return names if len(names) == len(model.outputs) else [f"output_{i}" for i in range(len(model.outputs))]


def _describe(layer: Any) -> str:
    cls = layer.__class__.__name__
    inner = wrapped_layer(layer)
    if cls == "Bidirectional":
        return f"Bidirectional({inner.__class__.__name__}({inner.units}), {layer.merge_mode})"
    if cls == "TimeDistributed":
        return f"TimeDistributed({inner.__class__.__name__})"
    if cls == "RNN":
        cells = getattr(layer.cell, "cells", [layer.cell])
        return "RNN(" + ", ".join(f"{c.__class__.__name__}({c.units})" for c in cells) + ")"
    if cls in ("LSTM", "GRU", "Dense"):
        return f"{cls}({layer.units})"
    return cls
