"""Models as flavour-neutral graphs: read any Keras model, canonicalize its RNNs, build it in either flavour.

A :class:`GraphSpec` holds each layer's class, the constructor arguments both Keras
flavours accept, the tensors it is called on and its weights. :func:`read_graph` reads a
model of either flavour, :func:`canonicalize_graph` rewrites ``RNN(LSTMCell)`` /
``RNN(StackedRNNCells)`` into plain ``LSTM`` nodes (so exporters see the fusable form) and
:func:`build_model` builds the graph in a flavour with its weights. Verification of a
rebuild lives in :mod:`lstm_deploy.load.flavours`.

Example:
    >>> graph = read_graph(keras3_model)                # doctest: +SKIP
    >>> tfk_model = build_model(graph, "tf_keras")      # doctest: +SKIP
"""

from __future__ import annotations

import inspect as _inspect
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .. import _tf
from ..errors import BridgeError, UnsupportedLayerError
from .keras_flavour import Flavour, flavour_of
from .layers import check_supported

TensorRef = tuple[str, int, int]  # (layer name, node index, tensor index)

# Constructor arguments we never carry across: weights are copied, so initializers,
# regularizers and constraints only matter for training from scratch.
_DROPPED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
_DROPPED_KEYS = {"seed", "build_config", "compile_config", "registered_name", "module", "input_length", "time_major"}


@dataclass
class LayerSpec:
    """One layer: its class, neutral constructor config, and the tensors it is called on."""

    name: str
    class_name: str
    config: dict[str, Any]
    inbound: list[TensorRef] = field(default_factory=list)
    list_input: bool = False  # called with a list (Concatenate/Add) rather than one tensor
    weights: list[np.ndarray] = field(default_factory=list)
    n_state: int = 0  # the last n_state inbound tensors are the RNN's ``initial_state`` (h, c)
    # With initial_state, whether the layer applies its input's mask: a Keras 3 functional model
    # drops the mask of a layer called with initial_state unless mask= is passed explicitly.
    state_mask: bool = True


@dataclass
class GraphSpec:
    """A model as a flavour-neutral graph."""

    name: str
    sequential: bool
    inputs: list[tuple[str, tuple[int | None, ...], str]]  # (name, batch shape, dtype)
    layers: list[LayerSpec]
    outputs: list[TensorRef]


# ---------------------------------------------------------------- reading a model


def _unwrap(value: Any) -> Any:
    """Keras 3 wraps nested objects as {module, class_name, config}; return a neutral form."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value["class_name"] in ("DTypePolicy", "FloatDTypePolicy"):
            return value["config"].get("name", "float32")
        return {"class_name": value["class_name"], "config": _neutral_config(value["config"])}
    return value


# Same name, different function: Keras 3's hard_sigmoid is relu6(x + 3) / 6, tf_keras' is
# clip(0.2 x + 0.5, 0, 1). Carrying the name across would silently change the model.
_AMBIGUOUS_ACTIVATIONS = {"hard_sigmoid"}


def _neutral_config(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key.endswith("activation") and value in _AMBIGUOUS_ACTIVATIONS:
            raise BridgeError(
                f"layer '{config.get('name')}' uses {key}='{value}', which is a different function in Keras 3 and tf_keras; "
                "use 'sigmoid' (the fused-kernel default) or another activation both define identically"
            )
        if key in _DROPPED_KEYS or key.endswith(_DROPPED_SUFFIXES):
            continue
        if key == "axis" and isinstance(value, (list, tuple)) and len(value) == 1:
            out[key] = value[0]  # tf_keras normalization layers store axis as a list
            continue
        if key == "dtype":
            value = _unwrap(value)
            out[key] = value if isinstance(value, str) else "float32"
            continue
        if key in ("layer", "backward_layer", "cell"):
            out[key] = _unwrap(value)
        elif key == "cells":
            out[key] = [_unwrap(c) for c in value]
        elif isinstance(value, dict) and "class_name" in value:
            out[key] = _unwrap(value)
        else:
            out[key] = value
    return out


def _keras3_refs(args: Any) -> list[TensorRef]:
    refs: list[TensorRef] = []
    if isinstance(args, (list, tuple)):
        for a in args:
            refs.extend(_keras3_refs(a))
    elif isinstance(args, dict) and args.get("class_name") == "__keras_tensor__":
        layer, node, tensor = args["config"]["keras_history"]
        refs.append((layer, node, tensor))
    return refs


_RECURRENT = ("LSTM", "GRU", "RNN")


def _parse_inbound(entry: dict[str, Any], flavour: Flavour) -> tuple[list[TensorRef], bool, int, bool]:
    """The tensors a layer is called on, whether as a list, how many are its ``initial_state``, and its state_mask.

    Keras 3 records ``initial_state`` as a call keyword; tf_keras appends the states to the
    layer's inbound tensors.
    """
    name, cls = entry["config"].get("name"), entry["class_name"]
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise UnsupportedLayerError(
            f"layer '{entry['config'].get('name')}' is shared (called {len(nodes)} times); "
            "lstm-deploy supports each layer being called once"
        )
    if not nodes:
        return [], False, 0, True
    node = nodes[0]
    if flavour == "keras3":
        args = node.get("args", [])
        first = args[0] if args else []
        refs, states = _keras3_refs(first), _keras3_refs(node.get("kwargs", {}).get("initial_state"))
        if states and cls not in _RECURRENT:
            raise UnsupportedLayerError(f"layer '{name}' ({cls}) is called with initial_state; supported on LSTM, GRU and RNN layers only")
        return refs + states, isinstance(first, (list, tuple)), len(states), node.get("kwargs", {}).get("mask") is not None
    refs = [(r[0], r[1], r[2]) for r in node]
    if len(refs) > 1 and cls in _RECURRENT:
        kwargs = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        return refs, False, len(refs) - 1, not ("mask" in kwargs and kwargs["mask"] is None)
    if len(refs) > 1 and cls == "Bidirectional":
        raise UnsupportedLayerError(f"layer '{name}' (Bidirectional) is called with initial_state; supported on LSTM, GRU and RNN layers only")
    return refs, len(refs) > 1 or cls in ("Concatenate", "Add"), 0, True


def read_graph(model: Any) -> GraphSpec:
    """Read any supported Keras model (either flavour) into a :class:`GraphSpec`."""
    flavour = flavour_of(model)
    check_supported([layer for layer in model.layers])
    config = model.get_config()
    sequential = type(model).__name__ == "Sequential"
    by_name = {layer.name: layer for layer in model.layers}
    inputs: list[tuple[str, tuple[int | None, ...], str]] = []
    layers: list[LayerSpec] = []
    if sequential:
        entries = config["layers"]
        if not entries or entries[0]["class_name"] != "InputLayer":
            shape = tuple(model.inputs[0].shape)
            inputs.append(("input", shape, dtype_name(model.inputs[0].dtype)))
        previous: TensorRef | None = None
        for entry in entries:
            cfg = entry["config"]
            if entry["class_name"] == "InputLayer":
                shape = tuple(cfg.get("batch_shape") or cfg.get("batch_input_shape"))
                inputs.append((cfg["name"], shape, dtype_name(cfg.get("dtype", "float32"))))
                previous = (cfg["name"], 0, 0)
                continue
            ref = previous or (inputs[0][0], 0, 0)
            spec = LayerSpec(cfg["name"], entry["class_name"], _neutral_config(cfg), [ref])
            spec.weights = [np.array(w) for w in by_name[cfg["name"]].get_weights()]
            layers.append(spec)
            previous = (cfg["name"], 0, 0)
        outputs = [previous] if previous else []
    else:
        mask_ops: dict[str, str] = {}
        for entry in config["layers"]:
            cfg = entry["config"]
            if entry["class_name"] == "InputLayer":
                shape = tuple(cfg.get("batch_shape") or cfg.get("batch_input_shape"))
                inputs.append((entry["name"], shape, dtype_name(cfg.get("dtype", "float32"))))
                continue
            if entry["name"] not in by_name and entry["class_name"] in _MASK_OPS:
                mask_ops[entry["name"]] = entry["class_name"]
                continue
            refs, list_input, n_state, state_mask = _parse_inbound(entry, flavour)
            spec = LayerSpec(entry["name"], entry["class_name"], _neutral_config(cfg), refs, list_input, n_state=n_state, state_mask=state_mask)
            spec.weights = [np.array(w) for w in by_name[entry["name"]].get_weights()]
            layers.append(spec)
        _check_mask_ops_unused(layers, mask_ops)
        order = {name: i for i, (name, _, _) in enumerate(inputs)}
        input_names = [tuple(x)[0] for x in _as_ref_list(config["input_layers"])]
        inputs.sort(key=lambda item: input_names.index(item[0]) if item[0] in input_names else order[item[0]])
        outputs = [tuple(x) for x in _as_ref_list(config["output_layers"])]  # type: ignore[misc]
    return GraphSpec(config.get("name", model.name), sequential, inputs, layers, outputs)  # type: ignore[arg-type]


# A functional Keras 3 model with Embedding(mask_zero=True) records the mask as an operation
# (``not_equal(tokens, 0)``) that feeds the consumer's ``mask=`` keyword. Rebuilt models
# propagate the same mask by themselves, so the operation is dropped -- unless a layer
# consumes it as data, which the bridge cannot rebuild.
_MASK_OPS = frozenset({"NotEqual"})


def _check_mask_ops_unused(layers: list[LayerSpec], mask_ops: dict[str, str]) -> None:
    for spec in layers:
        for ref in spec.inbound:
            if ref[0] in mask_ops:
                raise UnsupportedLayerError(
                    f"layer '{spec.name}' is called on the result of operation '{ref[0]}' ({mask_ops[ref[0]]}); "
                    "only Keras layers are supported between the inputs and the outputs -- wrap the operation in a layer"
                )


def _as_ref_list(value: Any) -> list[Any]:
    # Keras writes a single ref as [name, 0, 0] and several as [[name, 0, 0], ...].
    if value and isinstance(value[0], str):
        return [value]
    return list(value)


def dtype_name(dtype: Any) -> str:
    dtype = _unwrap(dtype)
    name = getattr(dtype, "name", dtype)
    return str(name)


# ---------------------------------------------------------------- canonicalization


def _cell_configs(cell: dict[str, Any]) -> list[dict[str, Any]]:
    if cell["class_name"] == "StackedRNNCells":
        return [c["config"] for c in cell["config"]["cells"]]
    return [cell["config"]]


def _lstm_from_rnn(rnn_cfg: dict[str, Any], cell_cfg: dict[str, Any], name: str, last: bool, first: bool) -> dict[str, Any]:
    cfg = {k: v for k, v in cell_cfg.items() if k not in ("name", "dtype", "trainable")}
    cfg.update(
        name=name,
        dtype=rnn_cfg.get("dtype", "float32"),
        trainable=rnn_cfg.get("trainable", True),
        return_sequences=rnn_cfg.get("return_sequences", False) if last else True,
        return_state=rnn_cfg.get("return_state", False) if last else False,
        go_backwards=rnn_cfg.get("go_backwards", False) if first else False,
        stateful=rnn_cfg.get("stateful", False),
        unroll=rnn_cfg.get("unroll", False),
    )
    return cfg


def _split_cell_weights(weights: list[np.ndarray], n_cells: int) -> list[list[np.ndarray]]:
    per = len(weights) // n_cells
    return [weights[i * per : (i + 1) * per] for i in range(n_cells)]


def canonicalize_graph(graph: GraphSpec) -> tuple[GraphSpec, list[str]]:
    """Rewrite RNN(LSTMCell) / RNN(StackedRNNCells) nodes into LSTM nodes.

    Returns the new graph and a list of human-readable changes (empty if none).
    """
    changes: list[str] = []
    new_layers: list[LayerSpec] = []
    for spec in graph.layers:
        if spec.class_name == "RNN":
            rewritten, note = _canonical_rnn(spec)
            new_layers.extend(rewritten)
            if note:
                changes.append(note)
        elif spec.class_name == "Bidirectional" and spec.config["layer"]["class_name"] == "RNN":
            inner = spec.config["layer"]
            cells = _cell_configs(inner["config"]["cell"])
            if len(cells) != 1:
                new_layers.append(spec)
                continue
            cfg = dict(spec.config)
            lstm_cfg = _lstm_from_rnn(inner["config"], cells[0], inner["config"].get("name", "lstm"), True, True)
            cfg["layer"] = {"class_name": "LSTM", "config": lstm_cfg}
            if cfg.get("backward_layer"):
                back = cfg["backward_layer"]
                bcells = _cell_configs(back["config"]["cell"])
                cfg["backward_layer"] = {
                    "class_name": "LSTM",
                    "config": _lstm_from_rnn(back["config"], bcells[0], back["config"].get("name", "backward_lstm"), True, True),
                }
            new_layers.append(replace(spec, class_name="Bidirectional", config=cfg))
            changes.append(f"'{spec.name}': Bidirectional(RNN(LSTMCell)) -> Bidirectional(LSTM)")
        else:
            new_layers.append(spec)
    return replace(graph, layers=new_layers), changes


def _canonical_rnn(spec: LayerSpec) -> tuple[list[LayerSpec], str | None]:
    cells = _cell_configs(spec.config["cell"])
    n = len(cells)
    if n > 1 and (spec.config.get("return_state") or spec.n_state):
        # Stacked cells return (and take) per-cell states; rewriting would change the layout.
        return [spec], None
    weights = _split_cell_weights(spec.weights, n)
    out: list[LayerSpec] = []
    previous = spec.inbound
    for i, cell in enumerate(cells):
        name = spec.name if i == n - 1 else f"{spec.name}_cell{i}"
        cfg = _lstm_from_rnn(spec.config, cell, name, last=i == n - 1, first=i == 0)
        out.append(LayerSpec(name, "LSTM", cfg, list(previous), False, weights[i], n_state=spec.n_state if i == 0 else 0,
                            state_mask=spec.state_mask))
        previous = [(name, 0, 0)]
    kind = "RNN(StackedRNNCells)" if spec.config["cell"]["class_name"] == "StackedRNNCells" else "RNN(LSTMCell)"
    return out, f"'{spec.name}': {kind} -> {n} LSTM layer(s)"


# ---------------------------------------------------------------- building a model


def _make_layer(mod: Any, class_name: str, config: dict[str, Any]) -> Any:
    cls = getattr(mod, class_name, None)
    if cls is None:
        raise BridgeError(f"layer class {class_name} does not exist in the target Keras flavour")
    config = dict(config)
    for key in ("layer", "backward_layer", "cell"):
        if isinstance(config.get(key), dict):
            config[key] = _make_layer(mod, config[key]["class_name"], config[key]["config"])
    if "cells" in config:
        config["cells"] = [_make_layer(mod, c["class_name"], c["config"]) for c in config["cells"]]
    accepted = _accepted_args(cls)
    kwargs = {k: v for k, v in config.items() if k in accepted}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise BridgeError(f"could not rebuild layer '{config.get('name')}' ({class_name}): {exc}") from None


def _accepted_args(cls: Any) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = _inspect.signature(init).parameters
        names.update(p for p, v in params.items() if v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL) and p != "self")
        if not any(v.kind == v.VAR_KEYWORD for v in params.values()):
            break
        if klass.__name__ in ("Layer", "Operation"):
            break
    return names


def _state_mask_kwargs(flavour: Flavour, spec: LayerSpec, tensor: Any) -> dict[str, Any]:
    """``mask=`` for a layer called with initial_state: Keras 3 needs it explicitly, tf_keras propagates it itself."""
    if not spec.state_mask:
        return {"mask": None}
    return {"mask": getattr(tensor, "_keras_mask", None)} if flavour == "keras3" else {}


def build_model(graph: GraphSpec, flavour: Flavour) -> Any:
    """Build ``graph`` as a Keras model of ``flavour`` and load its weights."""
    k = _tf.keras3() if flavour == "keras3" else _tf.tf_keras()
    mod = k.layers
    built: dict[str, Any] = {}
    if graph.sequential and len(graph.inputs) == 1:
        name, shape, dtype = graph.inputs[0]
        model = k.Sequential(name=graph.name)
        model.add(k.Input(shape=tuple(shape[1:]), batch_size=shape[0], dtype=dtype, name=name))
        for spec in graph.layers:
            built[spec.name] = _make_layer(mod, spec.class_name, spec.config)
            model.add(built[spec.name])
    else:
        tensors: dict[str, Any] = {}
        input_tensors = []
        for name, shape, dtype in graph.inputs:
            t = k.Input(shape=tuple(shape[1:]), batch_size=shape[0], dtype=dtype, name=name)
            tensors[name] = [t]
            input_tensors.append(t)
        for spec in graph.layers:
            layer = _make_layer(mod, spec.class_name, spec.config)
            args = [tensors[ref[0]][ref[2]] for ref in spec.inbound]
            if spec.n_state:
                out = layer(args[0], initial_state=args[1:], **_state_mask_kwargs(flavour, spec, args[0]))
            else:
                out = layer(args if spec.list_input else args[0])
            tensors[spec.name] = list(out) if isinstance(out, (list, tuple)) else [out]
            built[spec.name] = layer
        outputs = [tensors[ref[0]][ref[2]] for ref in graph.outputs]
        model = k.Model(input_tensors if len(input_tensors) > 1 else input_tensors[0], outputs if len(outputs) > 1 else outputs[0], name=graph.name)
    for spec in graph.layers:
        if spec.weights:
            try:
                built[spec.name].set_weights(spec.weights)
            except ValueError as exc:
                raise BridgeError(f"weights of layer '{spec.name}' ({spec.class_name}) do not fit the rebuilt layer: {exc}") from None
    return model
