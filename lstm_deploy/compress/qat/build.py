"""Annotate (plain model -> QAT training model) and strip (QAT model -> plain model).

The pair mirrors tfmot's ``quantize_model`` / ``strip``: :func:`annotate` clones the
caller's tf_keras model, replacing LSTM layers by fake-quantized stand-ins and wrapping
Dense/Conv1D/Conv2D/Embedding in tfmot ``QuantizeWrapperV2``; :func:`strip` builds a *plain*
clone of the original architecture whose quantized weights are the snapped (on-grid,
masked) values. The plain model exports to fused kernels like any other model.

Example:
    >>> qat = annotate(model, scheme_for(QatConfig()))          # doctest: +SKIP
    >>> qat.model.fit(x, y); plain = strip(qat)                   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import _tf
from ...load.dataset import X
from ...runtime import fixed_batches
from .config import QatScheme
from .fakequant import quantize_weight_np
from .lstm_layers import classes as lstm_classes
from .registry import KIND, check_model
from .tfmot_configs import make_quantize_config, tfmot_wrapper


@dataclass
class Annotated:
    """A QAT training model plus the map from original layer names to training layers."""

    base: Any
    model: Any
    layers: dict[str, Any]
    scheme: QatScheme


def _lstm_standin(layer: Any, scheme: QatScheme, go_backwards: bool | None = None, name: str | None = None) -> Any:
    QatLSTM, _ = lstm_classes()
    cfg = layer.get_config()
    return QatLSTM(
        units=cfg["units"], scheme=scheme, return_sequences=cfg.get("return_sequences", False),
        go_backwards=cfg.get("go_backwards", False) if go_backwards is None else go_backwards,
        use_bias=cfg.get("use_bias", True), name=name or layer.name,
    )


def _replacement(layer: Any, scheme: QatScheme) -> Any:
    kind = KIND[layer.__class__.__name__]
    if kind == "lstm" and layer.__class__.__name__ == "LSTM":
        return _lstm_standin(layer, scheme)
    if kind == "lstm":
        _, QatBidirectional = lstm_classes()
        fwd = _lstm_standin(layer.forward_layer, scheme, go_backwards=False, name=f"{layer.name}_forward")
        bwd = _lstm_standin(layer.backward_layer, scheme, go_backwards=True, name=f"{layer.name}_backward")
        return QatBidirectional(fwd, bwd, layer.merge_mode, layer.return_sequences, name=layer.name)
    fresh = layer.__class__.from_config(layer.get_config())
    if kind == "tfmot":
        return tfmot_wrapper()(fresh, make_quantize_config(layer.__class__.__name__, scheme), name=layer.name)
    return fresh


def _mask(w: np.ndarray, preserve_sparsity: bool) -> np.ndarray:
    return (w != 0).astype(np.float32) if preserve_sparsity else np.ones_like(w, np.float32)


def _load_lstm(standin: Any, weights: list[np.ndarray], preserve_sparsity: bool) -> None:
    k, rk = weights[0], weights[1]
    standin.kernel.assign(k)
    standin.recurrent_kernel.assign(rk)
    if standin.bias is not None:
        standin.bias.assign(weights[2])
    standin.kernel_mask.assign(_mask(k, preserve_sparsity))
    standin.recurrent_mask.assign(_mask(rk, preserve_sparsity))


def annotate(model: Any, scheme: QatScheme, preserve_sparsity: bool = True) -> Annotated:
    """Clone a tf_keras ``model`` into a QAT training model; ``model`` is not modified.

    Raises:
        UnsupportedLayerError: a layer QAT cannot handle (the message names it).
    """
    tfk = _tf.tf_keras()
    check_model(model, scheme.target)
    mapping: dict[str, Any] = {}

    def clone(layer: Any) -> Any:
        new = _replacement(layer, scheme)
        mapping[layer.name] = new
        return new

    train = tfk.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        new = mapping.get(layer.name)
        if new is None or not layer.weights:
            continue
        weights = layer.get_weights()
        cls = layer.__class__.__name__
        if cls == "LSTM":
            _load_lstm(new, weights, preserve_sparsity)
        elif cls == "Bidirectional":
            half = len(weights) // 2
            _load_lstm(new.forward_layer, weights[:half], preserve_sparsity)
            _load_lstm(new.backward_layer, weights[half:], preserve_sparsity)
        elif KIND[cls] == "tfmot":
            (var, _quantizer, qvars), = new._weight_vars
            for w, value in zip(layer.weights, weights):
                short = _short(w)
                target = var if short == new.quantize_config.attr else getattr(new.layer, short)
                target.assign(value)
            qvars["mask"].assign(_mask(var.numpy(), preserve_sparsity))
        else:
            new.set_weights(weights)
    return Annotated(base=model, model=train, layers=mapping, scheme=scheme)


def logit_twin(model: Any) -> Any | None:
    """A copy of ``model`` whose final Dense softmax/sigmoid is linear (outputs logits), or ``None``.

    QAT distills on logits: saturated probabilities give no gradient, logits do, and
    full-int8 TFLite quantizes the Dense output *before* the softmax anyway.
    """
    tfk = _tf.tf_keras()
    last = model.layers[-1]
    if last.__class__.__name__ != "Dense" or last.get_config().get("activation") not in ("softmax", "sigmoid"):
        return None
    if len(model.outputs) != 1 or model.outputs[0] is not last.output:
        return None

    def clone(layer: Any) -> Any:
        cfg = layer.get_config()
        if layer is last:
            cfg["activation"] = "linear"
        return layer.__class__.from_config(cfg)

    twin = tfk.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def calibrate(annotated: Annotated, x: X, batch_size: int = 256) -> None:
    """Set every activation range to the min/max over ``x`` of the float model with on-grid weights.

    That is the stripped model the converter calibrates on the same samples, so the simulated
    ranges are the artifact's. Earlier ranges are forgotten (the weights have moved since).
    ``x`` is an array or, for a model with several inputs, ``{input name: array}``.
    """
    QatLSTM, _ = lstm_classes()
    lstms = [l for l in _all_layers(annotated.model) if isinstance(l, QatLSTM)]
    wrappers = [l for l in annotated.model.layers if getattr(l, "_output_quantizers", None)]
    for layer in lstms:
        for tracker in (layer.x_range, layer.h_range, layer.c_range, layer.s_range):
            tracker.seen.assign(0.0)
    for layer in wrappers:
        layer._output_quantizer_vars["seen"].assign(0.0)
    switches = lstms + [q for l in wrappers for q in l._output_quantizers]
    for s in switches:
        s.calibrating = True
    try:
        for batch, _ in fixed_batches(x, None, chunk=batch_size):
            annotated.model(batch, training=False)
    finally:
        for s in switches:
            s.calibrating = False
    _output_ranges(annotated.model, lstms)


def _output_ranges(model: Any, lstms: list[Any]) -> None:
    """Each LSTM's output range: its hidden range, or for a concatenating Bidirectional the union of both (one tensor, one scale)."""
    _, QatBidirectional = lstm_classes()
    for layer in lstms:
        layer.o_range.lo.assign(layer.h_range.lo)
        layer.o_range.hi.assign(layer.h_range.hi)
    for bi in (l for l in model.layers if isinstance(l, QatBidirectional) and l.merge_mode == "concat"):
        f, b = bi.forward_layer.h_range, bi.backward_layer.h_range
        lo, hi = min(f.values()[0], b.values()[0]), max(f.values()[1], b.values()[1])
        for half in (bi.forward_layer, bi.backward_layer):
            half.o_range.lo.assign(lo)
            half.o_range.hi.assign(hi)


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in model.layers:
        out.append(layer)
        for attr in ("forward_layer", "backward_layer"):
            if hasattr(layer, attr):
                out.append(getattr(layer, attr))
    return out


def _snapped_lstm(standin: Any, scheme: QatScheme) -> list[np.ndarray]:
    k = quantize_weight_np(standin.kernel.numpy() * standin.kernel_mask.numpy(), scheme.lstm_gate_blocks, scheme.per_channel)
    rk = quantize_weight_np(
        standin.recurrent_kernel.numpy() * standin.recurrent_mask.numpy(), scheme.lstm_gate_blocks, scheme.per_channel
    )
    return [k, rk] + ([standin.bias.numpy()] if standin.bias is not None else [])


def strip(annotated: Annotated) -> Any:
    """A plain tf_keras model (original architecture) with the QAT-trained, on-grid weights."""
    tfk = _tf.tf_keras()
    base, scheme = annotated.base, annotated.scheme
    plain = tfk.models.clone_model(base)
    plain.set_weights(base.get_weights())
    for layer in plain.layers:
        new = annotated.layers.get(layer.name)
        if new is None or not layer.weights:
            continue
        cls = layer.__class__.__name__
        if cls == "LSTM":
            layer.set_weights(_snapped_lstm(new, scheme))
        elif cls == "Bidirectional":
            layer.set_weights(_snapped_lstm(new.forward_layer, scheme) + _snapped_lstm(new.backward_layer, scheme))
        elif KIND[cls] == "tfmot":
            (var, quantizer, qvars), = new._weight_vars
            snapped = quantize_weight_np(var.numpy() * qvars["mask"].numpy(), 1, quantizer.per_channel)
            attr = new.quantize_config.attr
            weights = [snapped if _short(w) == attr else getattr(new.layer, _short(w)).numpy() for w in layer.weights]
            layer.set_weights(weights)
        else:
            layer.set_weights(new.get_weights())
    return plain


def _short(w: Any) -> str:
    """``'dense/kernel:0'`` -> ``'kernel'``."""
    return str(w.name).split("/")[-1].split(":")[0]


def activation_ranges(annotated: Annotated) -> dict[str, dict[str, list[float]]]:
    """The calibrated/learned activation ranges per layer (what the runtime will quantize)."""
    QatLSTM, _ = lstm_classes()
    out: dict[str, dict[str, list[float]]] = {}
    for layer in _all_layers(annotated.model):
        if isinstance(layer, QatLSTM) and annotated.scheme.quantize_activations:
            out[layer.name] = {k: [round(v, 6) for v in r] for k, r in layer.ranges().items()}
        elif hasattr(layer, "_output_quantizer_vars") and getattr(layer, "_output_quantizers", None):
            qv = layer._output_quantizer_vars
            out[layer.name] = {"output": [round(float(qv["min"].numpy()), 6), round(float(qv["max"].numpy()), 6)]}
    return out
