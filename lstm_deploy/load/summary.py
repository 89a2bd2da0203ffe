"""What is in a model: parameters, MACs, weight memory, signature, and which stages apply.

MACs count the multiply-accumulates of matrix products and convolutions for one
sequence (batch 1); element-wise work (gate activations, normalization) is not
counted, following the usual convention. For an LSTM with ``u`` units over ``T``
steps of ``d`` features that is ``T * 4 * u * (d + u)``.

Stage verdicts are ``"yes"`` or ``"no: <why>"``, per layer (``LayerInfo.stages``) and for
the whole model (``ModelReport.stages``). QAT's come from QAT's own registry; fused-export
verdicts from :func:`lstm_deploy.load.layers.fusion_problems`, per format.

Example:
    >>> report = inspect_model(model)            # doctest: +SKIP
    >>> report.params == model.count_params()    # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InputError
from .layers import LAYERS, check_supported, fusion_problems, recurrent_directions, wrapped_layer


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
    stages: dict[str, str] = field(default_factory=dict)  # model level: "export" / "qat" -> "yes" or "no: <why>"
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
    if cls == "Conv2D":  # images have static sizes: one kernel application per output pixel
        out_h, out_w = _shape_list(_tensors(layer, "output")[0].shape)[1:3]
        groups = getattr(layer, "groups", 1) or 1
        kh, kw = layer.kernel_size
        return int(out_h) * int(out_w) * kh * kw * (int(in_shape[-1]) // groups) * layer.filters  # type: ignore[arg-type]
    return 0


def _conv_out_len(layer: Any, length: int) -> int:
    k, s, d = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
    span = (k - 1) * d + 1
    if layer.padding == "valid":
        return (length - span) // s + 1
    return math.ceil(length / s)


def _verdict(reason: str | None) -> str:
    return "yes" if reason is None else f"no: {reason}"


def _prune_verdicts(layer: Any, unit_problems: dict[str, str] | None = None) -> dict[str, str]:
    cls = layer.__class__.__name__
    support = LAYERS[cls]
    inner = wrapped_layer(layer)
    inner_cls = inner.__class__.__name__ if inner is not None else None
    prune = support.magnitude_prune
    if cls == "TimeDistributed" and inner_cls != "Dense":
        prune = "only TimeDistributed(Dense) is pruned"
    unit = support.unit_prune
    if cls == "Bidirectional" and inner_cls != "LSTM":
        unit = "unit pruning is implemented for LSTM only"
    if cls == "LSTM" and getattr(layer, "return_state", False):
        unit = "return_state outputs would change size"
    if unit is None and layer.name in (unit_problems or {}):
        unit = (unit_problems or {})[layer.name]
    return {"magnitude_prune": _verdict(prune), "unit_prune": _verdict(unit)}


_FORMAT_NAMES = {"tflite": "TFLite", "onnx": "ONNX"}


def _fused_verdicts(layer: Any, masked: bool) -> dict[str, str]:
    """``fused_export`` (every format) plus ``fused_tflite`` / ``fused_onnx`` for one layer."""
    problems = fusion_problems(layer)
    if not problems:
        return {"fused_export": "n/a (not recurrent)", "fused_tflite": "n/a", "fused_onnx": "n/a"}
    cells = getattr(getattr(layer, "cell", None), "cells", None) or []
    if layer.__class__.__name__ == "RNN" and len(cells) > 1 and layer.return_state:
        problems = {fmt: "stacked cells with return_state are not canonicalized (generic RNN loop)" for fmt in problems}
    if any(getattr(sub, "stateful", False) for sub in (layer, wrapped_layer(layer)) if sub is not None):
        problems = {fmt: "stateful=True: exported only as a --streaming artifact (one cell step per call, no sequence op)" for fmt in problems}
    out = {f"fused_{fmt}": _verdict(why) for fmt, why in problems.items()}
    if all(why is None for why in problems.values()):
        suffix = " (masked: explicit length input)" if masked else " (canonicalized to LSTM)" if layer.__class__.__name__ == "RNN" else ""
        return {"fused_export": "yes" + suffix, **out}
    if len(set(problems.values())) == 1:
        return {"fused_export": f"no: {next(iter(problems.values()))}", **out}
    parts = [f"{_FORMAT_NAMES[fmt]}: {why or 'fuses it'}" for fmt, why in problems.items()]
    return {"fused_export": "no: " + "; ".join(parts), **out}


def _bridge_problem(model: Any) -> tuple[str | None, dict[str, str], Any]:
    """Why the Keras bridge refuses ``model`` (every stage works on a rebuilt copy, so then none runs), why
    unit pruning leaves LSTMs alone, from unit pruning's own graph analysis (for models with several inputs every
    LSTM, otherwise only LSTMs called with ``initial_state``: the layer table answers for the others), and the
    flavour-neutral graph the other verdicts read (``None`` when the bridge refuses)."""
    from ..compress.prune.units import unit_problems
    from ..errors import BridgeError
    from .graph import read_graph

    try:
        graph = read_graph(model)
    except BridgeError as exc:
        return str(exc), {}, None
    problems = unit_problems(graph)
    if len(graph.inputs) > 1:
        return None, problems, graph
    stateful = {spec.name for spec in graph.layers if spec.n_state}
    return None, {name: why for name, why in problems.items() if name in stateful}, graph


def _qat_verdicts(model: Any, bridged: bool = True) -> tuple[dict[str, str], str]:
    """Per-layer and model-level QAT verdicts, read from QAT's own registry on the model QAT would train.

    QAT canonicalizes ``RNN(LSTMCell)`` layers into ``LSTM`` first, so the registry is asked
    about the canonical layers (an RNN's cells are named ``<rnn>_cell<i>`` and ``<rnn>``).
    """
    from ..compress.qat.registry import KIND, check_model, problem
    from ..errors import UnsupportedLayerError
    from .flavours import canonicalize

    has_rnn = any("RNN" in (layer.__class__.__name__, wrapped_layer(layer).__class__.__name__) for layer in model.layers)
    canonical = canonicalize(model, verify=False)[0] if has_rnn and bridged else model
    by_name: dict[str, list[Any]] = {}
    for layer in canonical.layers:
        by_name.setdefault(re.sub(r"_cell\d+$", "", layer.name), []).append(layer)
    per_layer = {}
    for layer in model.layers:
        derived = by_name.get(layer.name) or [layer]
        why = next((p for p in map(problem, derived) if p), None)
        if why is None and KIND.get(derived[0].__class__.__name__) == "passthrough":
            per_layer[layer.name] = "yes (passed through unquantized)" if layer.weights else "yes (no weights to quantize)"
        else:
            per_layer[layer.name] = _verdict(why)
    try:
        check_model(canonical)
    except UnsupportedLayerError as exc:
        return per_layer, f"no: {exc}"
    return per_layer, "yes"


def _export_refusal(model: Any, masked: bool, graph: Any) -> str | None:
    """Why ``lstm-deploy export`` (full-sequence artifacts) refuses ``model``, or ``None``.

    Mirrors :func:`lstm_deploy.export.plan.build_plan`; ``tests/load/test_inspect_truth.py``
    checks the two agree on every zoo model.
    """
    if len(model.inputs) != 1:
        return _multi_input_refusal(graph)
    if len(model.outputs) != 1:
        return f"model has {len(model.outputs)} outputs; export supports single-output models"
    stateful = [layer.name for layer in model.layers if any(getattr(s, "stateful", False) for s in (layer, wrapped_layer(layer)) if s is not None)]
    if stateful:
        return f"stateful layer(s) {', '.join(stateful)}: export them with --streaming (explicit h/c state inputs and outputs)"
    return _masked_refusal(model, graph) if masked else None


def _multi_input_refusal(graph: Any) -> str | None:
    """What the multi-input export graph (:mod:`lstm_deploy.export.multi`) refuses, in its words."""
    from ..errors import UnsupportedLayerError
    from ..export.multi import check_graph

    try:
        check_graph(graph)
    except UnsupportedLayerError as exc:
        return str(exc)
    return None


def _masked_refusal(model: Any, graph: Any) -> str | None:
    """What the masked export graph (post-padded inputs + lengths) cannot express; ``graph`` is ``model``'s flavour-neutral wiring."""
    from ..export.masked import MASK_NEUTRAL  # the layers the masked export passes a padded sequence through

    prev = graph.inputs[0][0]
    for spec in graph.layers:
        if [ref[0] for ref in spec.inbound] != [prev]:
            return f"masked model: layer '{spec.name}' is not part of a single straight chain of layers (branches or shared layers)"
        prev = spec.name
    masking = False
    for layer in model.layers:
        kind, inner = layer.__class__.__name__, wrapped_layer(layer)
        rnn = layer if kind in ("LSTM", "RNN") else inner if kind == "Bidirectional" else None
        if kind in ("InputLayer", "Masking", "Embedding"):
            masking = masking or kind == "Masking" or bool(getattr(layer, "mask_zero", False))
        elif not masking or kind in MASK_NEUTRAL:
            continue
        elif rnn is not None and all(k == "LSTM" for k, _ in recurrent_directions(layer)):
            if getattr(rnn, "go_backwards", False) and kind != "Bidirectional" or getattr(rnn, "return_state", False):
                return f"masked model: layer '{layer.name}' uses go_backwards/return_state under a mask, which the masked export does not support"
            if kind == "Bidirectional" and layer.merge_mode not in ("concat", "sum", "mul", "ave"):
                return f"masked model: layer '{layer.name}' has merge_mode={layer.merge_mode!r}; expected concat, sum, mul or ave"
            masking = bool(rnn.return_sequences)
        else:
            return f"masked model: layer '{layer.name}' ({kind}) consumes the mask; supported after a mask: LSTM, Bidirectional(LSTM), {', '.join(MASK_NEUTRAL)}"
    return None


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
    bridge, unit_problems, graph = _bridge_problem(model)
    multi = len(model.inputs) > 1
    qat_layers, qat_model = _qat_verdicts(model, bridged=bridge is None)
    refusal = bridge or _export_refusal(model, masked, graph)
    qat_model = f"no: {bridge}" if bridge else qat_model
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
                stages={**_prune_verdicts(layer, unit_problems), "qat": qat_layers[layer.name], **_fused_verdicts(layer, masked and not multi)},
            )
        )
    params = int(model.count_params())
    trainable = int(sum(math.prod(w.shape) for w in model.trainable_weights))
    stages = {"export": _verdict(refusal), "qat": qat_model}
    notes = [f"{stage}: {verdict}" for stage, verdict in (("export", stages["export"]), ("QAT", qat_model)) if verdict != "yes"]
    if masked and multi:
        notes.append("masked model with several inputs: exports find the padding inside the graph, like Keras")
    elif masked:
        notes.append("masked model: exports find the padding inside the graph, like Keras (int8 TFLite: Embedding(mask_zero) models "
                     "as they are, Masking models with --lengths-input)")
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
        stages=stages,
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
