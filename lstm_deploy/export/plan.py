"""The TensorFlow function an artifact is converted from (the "export graph").

Three shapes of graph, all built on a **tf_keras** model (the fused TFLite LSTM route
and tf2onnx's LSTM rewriter both need tf_keras LSTM layers, called without a mask):

* plain: ``x -> model(x)``;
* masked (``Masking`` / ``Embedding(mask_zero=True)``): ``x -> y``, exactly the Keras
  model's input -- the padding is found inside the graph and every LSTM runs unmasked
  over the real steps moved to the front, so the kernels stay fused and the result is
  Keras' for any mask (:mod:`lstm_deploy.export.masked`); ``(x, lengths) -> y`` for
  post-padded inputs with ``lengths_input=True``;
* streaming: ``(x_t, h_i, c_i...) -> (y_t, h_i', c_i'...)``, one LSTM cell step per layer.

Example:
    >>> plan = build_plan(tfk_model, input_shape=(10, 3))    # doctest: +SKIP
    >>> plan.signature(batch=1)                               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _tf
from ..errors import InputError, UnsupportedLayerError
from .masked import LENGTHS, MASK_NEUTRAL, OUTPUT, MaskSpec, masked_fn

__all__ = ["INPUT", "LENGTHS", "MASK_NEUTRAL", "OUTPUT", "ExportPlan", "MaskSpec", "build_plan", "count_lstms", "find_mask", "flat_layers"]

INPUT = "x"

# Layers that act on one time step at a time (allowed after the LSTMs of a streaming export).
_STEP_LAYERS = ("Dense", "Dropout", "Activation", "TimeDistributed", "LayerNormalization", "BatchNormalization",
                "GaussianNoise", "GaussianDropout", "ActivityRegularization", "ReLU", "Softmax", "SpatialDropout1D")


@dataclass
class ExportPlan:
    """A tf_keras model plus the function and signature to convert."""

    model: Any
    input_shape: tuple[int, ...]  # without batch, static
    input_dtype: str
    mask: MaskSpec | None
    fn: Callable[..., dict[str, Any]]
    lstm_count: int
    streaming: list[dict[str, Any]] | None = None  # state tensors of a streaming plan
    extra: dict[str, Any] = field(default_factory=dict)
    inputs: list[tuple[str, tuple[int, ...], str]] | None = None  # several inputs: (Keras name, shape, dtype) each

    def signature(self, batch: int | None) -> list[Any]:
        tf = _tf.tf()
        if self.inputs is not None:
            return [tf.TensorSpec((batch,) + shape, tf.as_dtype(dtype), name=name) for name, shape, dtype in self.inputs]
        specs = [tf.TensorSpec((batch,) + self.input_shape, tf.as_dtype(self.input_dtype), name=INPUT)]
        if self.mask is not None and self.mask.lengths_input:
            specs.append(tf.TensorSpec((batch,), tf.int32, name=LENGTHS))
        for state in self.streaming or []:
            specs.append(tf.TensorSpec((batch, state["units"]), tf.float32, name=state["input"]))
        return specs


def _name(layer: Any) -> str:
    return type(layer).__name__


def count_lstms(model: Any) -> int:
    """Number of LSTM directions in ``model`` (a Bidirectional LSTM counts twice)."""
    total = 0
    for layer in flat_layers(model):
        if _name(layer) == "LSTM":
            total += 1
        elif _name(layer) == "Bidirectional" and _name(layer.forward_layer) == "LSTM":
            total += 2
        elif _name(layer) == "RNN" and "LSTM" in _name(layer.cell) + str(getattr(layer.cell, "cells", "")):
            total += len(getattr(layer.cell, "cells", [layer.cell]))
    return total


def flat_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        out.extend(flat_layers(layer) if hasattr(layer, "layers") and _name(layer) != "TimeDistributed" else [layer])
    return out


def find_mask(model: Any, *, lengths_input: bool = False) -> MaskSpec | None:
    """The model's masking scheme, or ``None`` when it does not mask."""
    for layer in flat_layers(model):
        if _name(layer) == "Masking":
            return MaskSpec("masking", float(layer.mask_value), lengths_input)
        if _name(layer) == "Embedding" and getattr(layer, "mask_zero", False):
            return MaskSpec("mask_zero", 0.0, lengths_input)
    return None


def _chain(model: Any, why: str) -> list[Any]:
    """The model's layers when they form one straight line; raise otherwise."""
    layers = [layer for layer in model.layers if _name(layer) != "InputLayer"]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedLayerError(f"{why}: expected a model with one input and one output, found {len(model.inputs)} and {len(model.outputs)}")
    prev = model.inputs[0]
    for layer in layers:
        if hasattr(layer, "layers") and _name(layer) not in ("TimeDistributed", "Bidirectional"):
            raise UnsupportedLayerError(f"{why}: nested model {layer.name!r} is not supported; flatten it into one Sequential/functional chain")
        if len(layer._inbound_nodes) != 1 or layer.input is not prev:
            raise UnsupportedLayerError(f"{why}: layer {layer.name!r} is not part of a single straight chain of layers (branches or shared layers)")
        prev = layer.output
    return layers


def _lstm_step(layer: Any, x: Any, h: Any, c: Any) -> tuple[Any, Any]:
    """One step of a Keras LSTM cell (gate order i, f, c, o), using the layer's weights."""
    tf = _tf.tf()
    cell = layer.cell
    z = tf.matmul(x, cell.kernel) + tf.matmul(h, cell.recurrent_kernel)
    if cell.use_bias:
        z = z + cell.bias
    i, f, g, o = tf.split(z, 4, axis=-1)
    act, rec = cell.activation, cell.recurrent_activation
    c_new = rec(f) * c + rec(i) * act(g)
    return rec(o) * act(c_new), c_new


def _streaming_fn(model: Any) -> tuple[Callable[..., dict[str, Any]], list[dict[str, Any]]]:
    why = "streaming export"
    layers = _chain(model, why)
    states: list[dict[str, Any]] = []
    seen_last = False
    for layer in layers:
        kind = _name(layer)
        if kind == "LSTM":
            if seen_last or layer.go_backwards or layer.return_state:
                raise UnsupportedLayerError(f"{why}: LSTM {layer.name!r} cannot be stepped (go_backwards/return_state, or after a return_sequences=False LSTM)")
            k = len(states) // 2
            states += [{"input": f"state_h{k}", "output": f"next_h{k}", "units": layer.units, "layer": layer.name, "kind": "h"},
                       {"input": f"state_c{k}", "output": f"next_c{k}", "units": layer.units, "layer": layer.name, "kind": "c"}]
            seen_last = not layer.return_sequences
        elif kind == "Masking" or (kind == "Embedding" and layer.mask_zero):
            raise UnsupportedLayerError(
                f"{why}: masked models ({layer.name!r}) are not supported for streaming; export the model without its "
                "Masking layer / mask_zero and simply stop feeding steps at the end of each sequence"
            )
        elif kind == "Embedding" and not states:
            continue
        elif kind not in _STEP_LAYERS:
            raise UnsupportedLayerError(
                f"{why}: layer {layer.name!r} ({kind}) mixes time steps (or is not a per-step layer); streaming supports "
                f"stacked unidirectional LSTMs followed by {', '.join(_STEP_LAYERS)} -- Bidirectional/Conv1D models need the full sequence"
            )
    if not states:
        raise UnsupportedLayerError(f"{why}: the model has no LSTM layer to step")

    def fn(x: Any, *state: Any) -> dict[str, Any]:
        h = x
        out: dict[str, Any] = {}
        k = 0
        for layer in layers:
            kind = _name(layer)
            if kind == "LSTM":
                h, c = _lstm_step(layer, h, state[2 * k], state[2 * k + 1])
                out[f"next_h{k}"], out[f"next_c{k}"] = h, c
                k += 1
            elif kind == "TimeDistributed":
                h = layer.layer(h, training=False)
            else:
                h = layer(h, training=False)
        out[OUTPUT] = h
        return out

    return fn, states


def _multi_input_plan(model: Any, *, streaming: bool, lengths_input: bool) -> ExportPlan:
    """A model with several inputs (:mod:`lstm_deploy.export.multi`): its artifacts take the Keras inputs by name."""
    from .multi import graph_fn

    if streaming or lengths_input:
        flag = "--streaming" if streaming else "--lengths-input"
        raise UnsupportedLayerError(f"{flag}: model has {len(model.inputs)} inputs; {flag} supports single-input models "
                                    "(captioners: export_captioner builds the encoder and the single-step decoder)")
    fn, inputs, ranges = graph_fn(model)
    _, shape, dtype = inputs[0]
    integer_fn = lambda: graph_fn(model, integer=True)[0]  # noqa: E731 - the int8 graph: masks kept out of quantization
    return ExportPlan(model, shape, dtype, None, fn, count_lstms(model), extra={"input_ranges": ranges, "integer_fn": integer_fn}, inputs=inputs)


def build_plan(model: Any, input_shape: tuple[int, ...] | None = None, *, streaming: bool = False, lengths_input: bool = False) -> ExportPlan:
    """Describe how to convert the tf_keras ``model`` (never modified).

    Args:
        model: a tf_keras model (bridge Keras 3 models first).
        input_shape: per-sample input shape; defaults to the model's, which must then be static.
        streaming: build the single-step graph with explicit h/c state.
        lengths_input: masked models only: take an explicit int32 ``lengths`` input (post-padded
            inputs) instead of finding the padding inside the graph.
    """
    tf = _tf.tf()
    if len(model.inputs) != 1:
        return _multi_input_plan(model, streaming=streaming, lengths_input=lengths_input)
    shape = tuple(model.inputs[0].shape[1:]) if input_shape is None else tuple(input_shape)
    if any(d is None for d in shape):
        raise UnsupportedLayerError(
            f"model input shape {shape} has unknown dimensions; fixed-shape artifacts need them -- pass --data "
            "(the shape is taken from x_test) or rebuild the model with a fixed sequence length"
        )
    dtype = model.inputs[0].dtype
    dtype = getattr(dtype, "name", str(dtype))
    mask = find_mask(model, lengths_input=lengths_input)
    if lengths_input and mask is None:
        raise InputError("--lengths-input: the model has no Masking layer or Embedding(mask_zero=True), so its artifacts have no "
                         "lengths input; drop the flag")
    stateful = [layer.name for layer in flat_layers(model) if getattr(layer, "stateful", False)]
    if stateful and not streaming:
        raise UnsupportedLayerError(
            f"stateful layer(s) {', '.join(stateful)}: a stateful model carries h/c across calls; export it with --streaming "
            "(explicit state inputs/outputs, its deployable form) or rebuild it with stateful=False"
        )
    if streaming:
        fn, states = _streaming_fn(model)
        return ExportPlan(model, shape[1:], dtype, None, fn, count_lstms(model), streaming=states,
                          extra={"sequence_length": shape[0], "mask": mask})
    extra: dict[str, Any] = {}
    if mask is not None:
        chain = _chain(model, f"masked model ({mask.kind})")
        fn = masked_fn(chain, mask)
        extra["integer_fn"] = lambda: masked_fn(chain, mask, integer=True)  # the int8 graph: the mask kept out of quantization
    else:
        def fn(x: Any) -> dict[str, Any]:
            y = model(x, training=False)
            if isinstance(y, (list, tuple)):
                raise UnsupportedLayerError(f"model has {len(y)} outputs; export supports single-output models")
            return {OUTPUT: tf.identity(y)}
    return ExportPlan(model, shape, dtype, mask, fn, count_lstms(model), extra=extra)
