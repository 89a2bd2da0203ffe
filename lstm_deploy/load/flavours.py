"""Move models between Keras 3 (``keras``) and Keras 2 (``tf_keras``), and canonicalize RNNs.

tfmot and the fused-kernel TFLite route need ``tf_keras``; most users hand us Keras 3.
Neither flavour can read the other's files, so the bridge works on the *graph*: it
reads the model's config into a flavour-neutral :class:`GraphSpec`, rebuilds every
layer in the other flavour from the constructor arguments both understand, copies
the weights layer by layer, and then proves the rebuild by running both models on
the same seeded inputs (max abs difference <= 1e-5, else :class:`BridgeError`).

The same machinery canonicalizes ``RNN(LSTMCell)`` and ``RNN(StackedRNNCells)`` into
plain ``LSTM`` layers so that exporters see the fusable form.

Example:
    >>> tfk_model = to_tf_keras(keras3_model)      # doctest: +SKIP
    >>> back = to_keras3(tfk_model)                # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BridgeError, UnsupportedLayerError
from .graph import GraphSpec, LayerSpec, build_model, canonicalize_graph, dtype_name, read_graph
from .keras_flavour import Flavour, flavour_of

__all__ = ["BRIDGE_ATOL", "Flavour", "GraphSpec", "LayerSpec", "build_model", "call", "canonicalize", "canonicalize_graph", "convert",
           "flavour_of", "input_names", "max_abs_diff", "predict", "read_graph", "reset_states", "sample_inputs", "to_flavour", "to_keras3",
           "to_tf_keras", "verify_same"]

BRIDGE_ATOL = 1e-5
DEFAULT_SEQ_LEN = 7  # used to verify models whose sequence length is dynamic


# ---------------------------------------------------------------- verification


def sample_inputs(model: Any, batch: int = 3, seq_len: int = DEFAULT_SEQ_LEN, seed: int = 0) -> list[np.ndarray]:
    """Seeded inputs that fit ``model``: Gaussian floats, or token ids for integer inputs."""
    rng = np.random.default_rng(seed)
    vocab = _embedding_vocab(model)
    arrays = []
    for tensor in model.inputs:
        shape = [batch if d is None and i == 0 else (seq_len if d is None else int(d)) for i, d in enumerate(tensor.shape)]
        if tensor.shape[0] is not None:
            shape[0] = int(tensor.shape[0])
        dtype = dtype_name(tensor.dtype)
        if "int" in dtype:
            arr = rng.integers(1, max(2, vocab), size=shape).astype(dtype)
            if arr.ndim >= 2 and arr.shape[1] > 2:
                arr[0, -2:] = 0  # exercise padding / masks
        else:
            arr = rng.normal(size=shape).astype(np.float32)
        arrays.append(arr)
    return arrays


def _embedding_vocab(model: Any) -> int:
    dims = [layer.input_dim for layer in model.layers if layer.__class__.__name__ == "Embedding"]
    return min(dims) if dims else 2


def call(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """One inference-mode call of ``model`` on ``inputs``; its outputs as a list of arrays."""
    # Keras 3 warns unless the call matches the structure the model was built with.
    as_list = len(inputs) > 1 or isinstance(getattr(model, "_inputs_struct", None), (list, tuple))
    out = model(inputs if as_list else inputs[0], training=False)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o) for o in outs]


def predict(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Inference-mode outputs of a single-output Keras model (either flavour) on ``x``, in batches.

    Direct calls, not ``model.predict`` (much faster for the small sets lstm-deploy scores).
    A stateful model runs in chunks of its fixed batch, each from zero state, and is left
    at zero state. The one batched predict behind fine-tuning, export parity and reports.
    A model with several inputs takes ``x`` as ``{input name: array}``.

    Example:
        >>> out = predict(model, dataset.x_test)     # doctest: +SKIP
    """
    from ..runtime import fixed_batches

    names = input_names(model)
    if isinstance(x, dict) and sorted(x) != sorted(names):  # a model with several inputs takes {input name: array}
        raise ValueError(f"predict: inputs {sorted(x)} do not match the model's inputs {names}")
    stateful = _has_state(model)
    fixed = int(model.inputs[0].shape[0]) if stateful else None
    outs = []
    for xb, n in fixed_batches(x if isinstance(x, dict) else np.asarray(x), fixed, chunk=batch_size):
        if stateful:
            reset_states(model)
        y = call(model, [np.asarray(xb[name]) for name in names] if isinstance(xb, dict) else [xb])
        if len(y) != 1:
            raise UnsupportedLayerError(f"model '{model.name}' has {len(y)} outputs; this step supports single-output models")
        outs.append(y[0][:n])
    if stateful:
        reset_states(model)
    if not outs:
        raise ValueError("predict: x holds no samples")
    return np.concatenate(outs, axis=0)


def input_names(model: Any) -> list[str]:
    """The model's input names, in its input order (either flavour)."""
    return [t.name.split(":")[0] for t in model.inputs]


def _has_state(model: Any) -> bool:
    return any(getattr(layer, "stateful", False) for layer in _flat(model))


def _flat(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        inner = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
        if inner is not None:
            out.append(inner)
    return out


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Largest absolute difference across matching outputs."""
    if len(a) != len(b):
        return float("inf")
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0 for x, y in zip(a, b))


def verify_same(source: Any, target: Any, what: str, atol: float = BRIDGE_ATOL) -> float:
    """Run both models on the same seeded inputs; raise :class:`BridgeError` if they differ."""
    if _has_state(source):
        reset_states(source)
        reset_states(target)
    inputs = sample_inputs(source)
    diff = max_abs_diff(call(source, inputs), call(target, inputs))
    if not diff <= atol:
        raise BridgeError(f"{what} changed the model's outputs: max abs difference {diff:.3g} > {atol:g}")
    return diff


def reset_states(model: Any) -> None:
    """Zero the state of every stateful recurrent layer (wrapped ones included)."""
    for layer in _flat(model):
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
            layer.reset_states()


# ---------------------------------------------------------------- public API


def convert(model: Any, flavour: Flavour, *, canonical: bool = True, verify: bool = True) -> Any:
    """Rebuild ``model`` in ``flavour`` (optionally canonicalizing RNNs) and verify it.

    Returns a new model; the input model is never modified.
    """
    graph = read_graph(model)
    if canonical:
        graph, _ = canonicalize_graph(graph)
    new = build_model(graph, flavour)
    if verify:
        verify_same(model, new, f"rebuilding '{model.name}' as {flavour}")
    return new


def to_tf_keras(model: Any, *, canonical: bool = True, verify: bool = True) -> Any:
    """Return an equivalent ``tf_keras`` model (verified); Keras 2 input is rebuilt too when canonicalizing.

    Example:
        >>> tfk = to_tf_keras(keras.models.load_model("m.keras"))  # doctest: +SKIP
    """
    if flavour_of(model) == "tf_keras" and not canonical:
        return model
    return convert(model, "tf_keras", canonical=canonical, verify=verify)


def to_keras3(model: Any, *, canonical: bool = False, verify: bool = True) -> Any:
    """Return an equivalent Keras 3 model (verified)."""
    if flavour_of(model) == "keras3" and not canonical:
        return model
    return convert(model, "keras3", canonical=canonical, verify=verify)


def to_flavour(model: Any, flavour: Flavour, *, verify: bool = True) -> Any:
    """Return ``model`` in ``flavour`` (the same object when it already is)."""
    if flavour_of(model) == flavour:
        return model
    return convert(model, flavour, canonical=False, verify=verify)


def canonicalize(model: Any, *, verify: bool = True) -> tuple[Any, list[str]]:
    """Rewrite RNN(LSTMCell)/StackedRNNCells into LSTM layers, in the model's own flavour.

    Returns ``(model, changes)``; when nothing needed rewriting, the same model and ``[]``.
    """
    graph, changes = canonicalize_graph(read_graph(model))
    if not changes:
        return model, []
    new = build_model(graph, flavour_of(model))
    if verify:
        verify_same(model, new, "canonicalizing RNN cells into LSTM layers")
    return new, changes
