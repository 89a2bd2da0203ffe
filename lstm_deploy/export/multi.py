"""The export graph of a model with several inputs (an image captioner), with fused LSTMs.

A captioner takes an image and a caption prefix; its LSTM may start from
``initial_state=[h0, c0]`` computed from the image (*inject*) or be merged with the image
features afterwards (*merge*). This module walks the model's flavour-neutral graph
(:func:`lstm_deploy.load.graph.read_graph`) and calls each tf_keras layer on plain tensors,
so every LSTM reaches the fused kernels (TFLite ``UNIDIRECTIONAL_SEQUENCE_LSTM``, ONNX
``LSTM``). Masks (``Embedding(mask_zero=True)`` / ``Masking``) are followed statically: a
masked LSTM runs unmasked over its compacted sequence (:mod:`lstm_deploy.export.masked`),
with its initial state when it has one -- exactly what Keras computes. An LSTM that Keras
itself runs without the mask (Keras 3 drops it when ``initial_state`` is given) runs
unmasked here too. The artifact's inputs keep the Keras input names.

Example:
    >>> fn, inputs, ranges = graph_fn(tfk_captioner)  # doctest: +SKIP
    >>> [name for name, _, _ in inputs]                # doctest: +SKIP
    ['image', 'tokens']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _tf
from ..errors import UnsupportedLayerError
from .masked import MASK_NEUTRAL, OUTPUT, _IntegerMask, _LiveMask, _seq_clone

InputSpec = tuple[str, tuple[int, ...], str]  # (name, per-sample shape, dtype)
_WHY = "multi-input model"


def _mask_plan(graph: Any) -> dict[str, str]:
    """How each layer treats a mask: ``source`` / ``neutral`` / ``lstm`` (masked run) / ``plain``; raise if unsupported."""
    masked: set[str] = set()  # layers whose output carries a Keras mask
    how: dict[str, str] = {}
    for spec in graph.layers:
        data = spec.inbound[: len(spec.inbound) - spec.n_state]
        live = any(ref[0] in masked for ref in data)
        kind, cfg = spec.class_name, spec.config
        if kind == "Masking" or (kind == "Embedding" and cfg.get("mask_zero")):
            how[spec.name] = "source"
        elif not live:
            how[spec.name] = "plain"
            continue
        elif spec.list_input:
            raise UnsupportedLayerError(f"{_WHY}: layer '{spec.name}' ({kind}) merges a masked sequence; end the masked branch "
                                        "with an LSTM (return_sequences=False) before merging")
        elif kind in MASK_NEUTRAL:
            how[spec.name] = "neutral"
        elif kind == "LSTM" and spec.n_state and not spec.state_mask:
            how[spec.name] = "plain"  # Keras itself runs this LSTM without the mask
            continue
        elif kind == "LSTM":
            if cfg.get("go_backwards") or cfg.get("return_state") or cfg.get("stateful"):
                raise UnsupportedLayerError(f"{_WHY}: LSTM '{spec.name}' uses go_backwards/return_state/stateful under a mask, "
                                            "which the masked export does not support")
            how[spec.name] = "lstm"
            if not cfg.get("return_sequences"):
                continue
        else:
            raise UnsupportedLayerError(f"{_WHY}: layer '{spec.name}' ({kind}) consumes the mask; supported under a mask in a "
                                        f"multi-input model: LSTM, {', '.join(MASK_NEUTRAL)}")
        masked.add(spec.name)
    return how


def check_graph(graph: Any) -> tuple[list[InputSpec], dict[str, str]]:
    """The inputs and the mask plan of a multi-input graph, or :class:`UnsupportedLayerError` (``inspect`` says the same)."""
    if len(graph.outputs) != 1:
        raise UnsupportedLayerError(f"{_WHY}: model has {len(graph.outputs)} outputs; export supports single-output models")
    inputs: list[InputSpec] = []
    for name, shape, dtype in graph.inputs:
        if any(d is None for d in shape[1:]):
            raise UnsupportedLayerError(f"{_WHY}: input '{name}' has shape {tuple(shape[1:])} with unknown dimensions; "
                                        "fixed-shape artifacts need them -- rebuild the model with fixed input shapes")
        inputs.append((name, tuple(int(d) for d in shape[1:]), dtype))
    return inputs, _mask_plan(graph)


def graph_fn(model: Any, *, integer: bool = False) -> tuple[Callable[..., dict[str, Any]], list[InputSpec], dict[str, list[int]]]:
    """The traced function ``(*inputs) -> {"output": y}`` of the tf_keras ``model``, its inputs in the model's order,
    and the token range ``[0, input_dim - 1]`` of every integer input read by an Embedding.

    ``integer``: the graph of a full-integer (int8) artifact: ``mask_zero`` masks stay int32 / boolean
    (:class:`~lstm_deploy.export.masked._IntegerMask`); a ``Masking`` layer is refused (int8 inputs lose its padding values).

    Raises:
        UnsupportedLayerError: several outputs, a dynamic input shape, or a mask that the graph cannot follow.
    """
    from ..load.graph import read_graph

    tf = _tf.tf()
    graph = read_graph(model)
    inputs, how = check_graph(graph)
    ints = {name for name, _, dtype in inputs if dtype.startswith(("int", "uint"))}
    ranges = {spec.inbound[0][0]: [0, int(spec.config["input_dim"]) - 1] for spec in graph.layers
              if spec.class_name == "Embedding" and spec.inbound and spec.inbound[0][0] in ints}
    layers = {spec.name: model.get_layer(spec.name) for spec in graph.layers}
    clones = {name: _seq_clone(layers[name], layers[name].input_shape if not isinstance(layers[name].input_shape, list)
                                 else layers[name].input_shape[0]) for name, h in how.items() if h == "lstm"}

    def fn(*xs: Any) -> dict[str, Any]:
        tensors: dict[str, Any] = {name: x for (name, _, _), x in zip(inputs, xs)}
        masks: dict[str, _LiveMask] = {}
        for spec in graph.layers:
            args = [tensors[ref[0]] if ref[2] == 0 or not isinstance(tensors[ref[0]], list) else tensors[ref[0]][ref[2]]
                    for ref in spec.inbound]
            layer, mode, x = layers[spec.name], how[spec.name], args[0]
            live = next((masks[ref[0]] for ref in spec.inbound if ref[0] in masks), None)
            if mode == "source" and integer:
                if spec.class_name == "Masking":
                    raise UnsupportedLayerError(f"{_WHY}: int8 of Masking layer '{spec.name}': int8 inputs do not keep the exact "
                                                "values that mark padded steps; use --quantize dynamic or float16")
                masks[spec.name] = _IntegerMask(tf.cast(tf.not_equal(x, tf.zeros_like(x)), tf.int32), None)
                out = tf.identity(layer(x))
            elif mode == "source":
                valid = (tf.reduce_max(tf.cast(tf.not_equal(x, tf.cast(layer.mask_value, x.dtype)), tf.float32), axis=-1)
                         if spec.class_name == "Masking" else tf.cast(tf.not_equal(x, tf.zeros_like(x)), tf.float32))
                masks[spec.name] = _LiveMask(valid, None)
                out = x * tf.cast(valid, x.dtype)[..., None] if spec.class_name == "Masking" else tf.identity(layer(x))
            elif mode == "lstm":
                seq = clones[spec.name](live.compact(x), initial_state=args[1:] or None)
                if spec.config.get("return_sequences"):
                    masks[spec.name] = live
                    out = live.spread(seq, zero_masked=bool(spec.config.get("zero_output_for_mask")))
                else:
                    out = live.last_output(seq)
            else:
                if mode == "neutral":
                    masks[spec.name] = live
                if spec.n_state:
                    out = layer(x, initial_state=args[1:], training=False)
                else:
                    out = layer(args if spec.list_input else x, training=False)
            tensors[spec.name] = list(out) if isinstance(out, (list, tuple)) else out
        name, _, index = graph.outputs[0]
        y = tensors[name][index] if isinstance(tensors[name], list) else tensors[name]
        return {OUTPUT: tf.identity(y)}

    return fn, inputs, ranges
