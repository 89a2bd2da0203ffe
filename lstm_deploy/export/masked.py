"""The export graph of a masked model (``Masking`` / ``Embedding(mask_zero=True)``) with fused LSTMs.

Keras skips masked time steps: a masked step keeps the LSTM state and repeats the
previous output (or outputs zeros, ``zero_output_for_mask``, always inside
``Bidirectional``). The fused kernels (TFLite ``UNIDIRECTIONAL_SEQUENCE_LSTM``, ONNX
``LSTM``) know no mask, so each masked LSTM here runs **unmasked over a compacted
sequence**: the real steps of each sequence are gathered to the front, in order
(identity for post-padded inputs), the LSTM runs over the whole compacted sequence
(padding at the end cannot influence earlier steps), the output at the last real step is
picked for ``return_sequences=False``, and returned sequences are spread back onto the
original steps exactly as Keras fills masked ones. The backward half of a
``Bidirectional`` runs on the compacted sequence reversed within its length (a gather:
tf2onnx would merge a ``ReverseSequence`` pair into one bidirectional ONNX LSTM that
ignores the lengths). This is exact for post-padded, pre-padded and gapped masks alike.

Two input contracts (:class:`MaskSpec`):

* default -- the artifact takes exactly the Keras model's input; the mask is derived from
  the padding inside the graph like Keras does (all features equal ``mask_value`` for
  ``Masking``, token 0 for ``mask_zero``);
* ``lengths_input`` -- an extra int32 ``lengths`` input (valid steps per sequence) for
  callers who prefer it; inputs must then be post-padded and no compaction is done.

Example:
    >>> spec = MaskSpec("masking", 0.0)
    >>> spec.to_manifest()["lengths"], spec.to_manifest()["lengths_input"]
    ('derived', None)
    >>> MaskSpec("mask_zero", lengths_input=True).to_manifest()["padding"]
    'post'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import _tf
from ..errors import UnsupportedLayerError

LENGTHS = "lengths"
OUTPUT = "output"  # the export graph's output name (every graph shape; :mod:`.plan` re-exports it)

# Layers that ignore a Keras mask (they compute every step the same way), so passing a
# masked sequence through them unmasked gives exactly Keras' result.
MASK_NEUTRAL = (
    "Dense", "Dropout", "Activation", "TimeDistributed", "LayerNormalization", "BatchNormalization",
    "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "ActivityRegularization", "ReLU", "Softmax",
)


@dataclass(frozen=True)
class MaskSpec:
    """How a masked model's padding is recognised, and whether the artifact takes a ``lengths`` input (manifest ``masking``)."""

    kind: str  # "masking" | "mask_zero"
    mask_value: float = 0.0
    lengths_input: bool = False

    def to_manifest(self) -> dict[str, Any]:
        what = f"a time step whose features all equal {self.mask_value}" if self.kind == "masking" else "token id 0"
        if self.lengths_input:
            return {"kind": self.kind, "mask_value": self.mask_value, "padding": "post", "lengths": "input", "lengths_input": LENGTHS,
                    "semantics": (f"padding = {what}; inputs must be post-padded (real steps first). The artifact takes an extra "
                                  f"int32 input '{LENGTHS}' (real steps per sequence); lstm_deploy.runtime derives it from the "
                                  "padding. Results equal Keras' masked outputs.")}
        return {"kind": self.kind, "mask_value": self.mask_value, "padding": "any", "lengths": "derived", "lengths_input": None,
                "semantics": (f"padding = {what}. The artifact takes only the model's own input and finds the padded steps "
                              "inside the graph, as Keras does: post-padded, pre-padded and gapped sequences all give Keras' "
                              "masked outputs.")}


class _LiveMask:
    """The mask of the sequence flowing through the graph, with its compaction (traced ops)."""

    def __init__(self, valid: Any, lengths: Any | None) -> None:
        tf = _tf.tf()
        self.valid = valid  # (batch, time) float, 1.0 = real step
        time = valid.shape[1]
        if lengths is not None:  # explicit lengths: post-padded by contract, nothing to move
            self.lengths, self.order, self.last = lengths, None, None
        else:
            key = tf.range(time, dtype=tf.float32)[None, :] + float(time) * (1.0 - valid)  # real steps first, in order
            self.order = tf.argsort(key, axis=1)
            self.lengths = tf.cast(tf.reduce_sum(valid, axis=1), tf.int32)
            self.last = tf.cast(tf.cumsum(valid, axis=1), tf.int32) - 1  # compacted index of the last real step <= t
        # Reversal within each length, as a gather: tf2onnx's Bidirectional rewriter would merge a
        # ReverseSequence pair into one bidirectional ONNX LSTM that ignores the lengths (wrong results).
        steps = tf.range(time)[None, :]
        self.flip = tf.where(steps < self.lengths[:, None], self.lengths[:, None] - 1 - steps, steps)

    def reverse(self, seq: Any) -> Any:
        """``seq`` with the first ``lengths`` steps of each sequence in reverse order (the rest stays)."""
        return _tf.tf().gather(seq, self.flip, axis=1, batch_dims=1)

    def compact(self, h: Any) -> Any:
        return h if self.order is None else _tf.tf().gather(h, self.order, axis=1, batch_dims=1)

    def last_output(self, seq: Any) -> Any:
        """The output at each sequence's last real step (zeros for an all-padding sequence, like Keras)."""
        tf = _tf.tf()
        # one_hot(-1) is all zeros in TensorFlow but the last step in ONNX: never feed it a negative index
        pick = tf.one_hot(tf.maximum(self.lengths - 1, 0), tf.shape(seq)[1], dtype=seq.dtype)
        pick = pick * tf.cast(self.lengths > 0, seq.dtype)[:, None]
        return tf.reduce_sum(seq * pick[..., None], axis=1)

    def spread(self, seq: Any, *, zero_masked: bool) -> Any:
        """Compacted outputs back on the original steps: masked steps repeat the last real output, or are 0 with ``zero_masked``."""
        tf = _tf.tf()
        valid = tf.cast(self.valid, seq.dtype)[..., None]
        if zero_masked:
            spread = seq if self.last is None else tf.gather(seq, tf.maximum(self.last, 0), axis=1, batch_dims=1)
            return spread * valid
        if self.last is None:
            return seq * valid + self.last_output(seq)[:, None, :] * (1.0 - valid)
        before_first = tf.cast(self.last >= 0, seq.dtype)[..., None]
        return tf.gather(seq, tf.maximum(self.last, 0), axis=1, batch_dims=1) * before_first


class _IntegerMask(_LiveMask):
    """:class:`_LiveMask` for full-integer (int8) artifacts: the mask never becomes a quantized tensor.

    The padding is read from the int32 token ids (or the int32 ``lengths`` input), which the
    converter keeps out of quantization; compaction order, lengths and last-step indices are int32
    arithmetic, and masked outputs are chosen with boolean selects, so which steps count is exact
    (no int8 rounding touches the mask); only the LSTM and its outputs are quantized.
    """

    def __init__(self, valid: Any, lengths: Any | None) -> None:  # valid: (batch, time) int32, 1 = real step
        tf = _tf.tf()
        self.real = tf.cast(valid, tf.bool)
        self.valid = valid
        time = valid.shape[1]
        steps = tf.range(time, dtype=tf.int32)[None, :]
        if lengths is not None:
            self.lengths, self.order, self.last = lengths, None, None
        else:
            self.order = tf.argsort(steps + time * (1 - valid), axis=1)  # real steps first, in order (int32 keys)
            self.lengths = tf.reduce_sum(valid, axis=1)
            self.last = tf.cumsum(valid, axis=1) - 1
        self.flip = tf.where(steps < self.lengths[:, None], self.lengths[:, None] - 1 - steps, steps)

    def last_output(self, seq: Any) -> Any:
        tf = _tf.tf()
        picked = tf.gather(seq, tf.maximum(self.lengths - 1, 0), axis=1, batch_dims=1)
        return tf.where((self.lengths > 0)[:, None], picked, tf.zeros_like(picked))

    def spread(self, seq: Any, *, zero_masked: bool) -> Any:
        tf = _tf.tf()
        real = self.real[..., None]
        if self.last is None:  # post-padded (lengths input): real steps stay where they are
            fill = tf.zeros_like(seq) if zero_masked else tf.broadcast_to(self.last_output(seq)[:, None, :], tf.shape(seq))
            return tf.where(real, seq, fill)
        spread = tf.gather(seq, tf.maximum(self.last, 0), axis=1, batch_dims=1)
        keep = real if zero_masked else (self.last >= 0)[..., None]
        return tf.where(keep, spread, tf.zeros_like(spread))


def _seq_clone(layer: Any, input_shape: Any) -> Any:
    """A forward, return_sequences=True copy of LSTM ``layer`` with its weight values (built eagerly)."""
    cfg = layer.get_config()
    cfg.update(return_sequences=True, return_state=False, go_backwards=False, stateful=False, name=cfg["name"] + "_export")
    clone = type(layer).from_config(cfg)
    clone.build(input_shape)
    clone.set_weights(layer.get_weights())
    return clone


def masked_fn(layers: list[Any], spec: MaskSpec, *, integer: bool = False) -> Callable[..., dict[str, Any]]:
    """The traced function of a masked straight-chain model: ``x -> {"output": y}`` (``(x, lengths)`` with ``spec.lengths_input``).

    ``integer``: the graph for a full-integer (int8) artifact, whose mask stays int32 / boolean
    (:class:`_IntegerMask`); it needs the padding in an integer input (``mask_zero`` tokens, or ``lengths``).
    """
    if integer and spec.kind == "masking" and not spec.lengths_input:
        raise UnsupportedLayerError(
            "int8 of a Masking model: int8 inputs do not keep the exact values that mark padded steps; export it with "
            "--lengths-input (an int32 lengths input kept out of quantization, post-padded inputs) or use --quantize dynamic")
    live_mask = _IntegerMask if integer else _LiveMask

    tf = _tf.tf()
    why = f"masked model ({spec.kind})"
    clones: dict[int, Any] = {}
    for layer in layers:  # weight copies must be made outside the traced function
        if type(layer).__name__ == "LSTM":
            clones[id(layer)] = _seq_clone(layer, layer.input_shape)
        elif type(layer).__name__ == "Bidirectional" and type(layer.forward_layer).__name__ == "LSTM":
            for sub in (layer.forward_layer, layer.backward_layer):
                clones[id(sub)] = _seq_clone(sub, layer.input_shape)

    def fn(x: Any, lengths: Any | None) -> dict[str, Any]:
        live: _LiveMask | None = None
        h = x
        for layer in layers:
            kind = type(layer).__name__
            vdt = tf.int32 if integer else tf.float32
            if kind == "Masking":
                derived = tf.reduce_max(tf.cast(tf.not_equal(h, tf.cast(layer.mask_value, h.dtype)), tf.float32), axis=-1)
                live = live_mask(derived if lengths is None else tf.sequence_mask(lengths, x.shape[1], dtype=vdt), lengths)
                h = tf.where(live.real[..., None], h, tf.zeros_like(h)) if integer else h * tf.cast(live.valid, h.dtype)[..., None]
            elif kind == "Embedding":  # identity drops the Keras mask, so later LSTMs run unmasked (fused)
                if layer.mask_zero:
                    derived = tf.cast(tf.not_equal(h, tf.zeros_like(h)), vdt)
                    live = live_mask(derived if lengths is None else tf.sequence_mask(lengths, x.shape[1], dtype=vdt), lengths)
                h = tf.identity(layer(h))
            elif live is None or kind in MASK_NEUTRAL:
                h = layer(h, training=False)
            elif kind == "LSTM":
                h = _lstm(layer, clones[id(layer)], h, live, why)
                live = live if layer.return_sequences else None
            elif kind == "Bidirectional" and type(layer.forward_layer).__name__ == "LSTM":
                h = _bidirectional(layer, clones, h, live, why)
                live = live if layer.return_sequences else None
            else:
                raise UnsupportedLayerError(f"{why}: layer {layer.name!r} ({kind}) consumes the mask; supported under a mask: "
                                            f"LSTM, Bidirectional(LSTM), {', '.join(MASK_NEUTRAL)}")
        return {OUTPUT: h}

    if spec.lengths_input:
        return lambda x, lengths: fn(x, lengths)
    return lambda x: fn(x, None)


def _lstm(layer: Any, clone: Any, h: Any, live: _LiveMask, why: str) -> Any:
    if layer.go_backwards or layer.return_state or layer.stateful:
        raise UnsupportedLayerError(f"{why}: LSTM {layer.name!r} uses go_backwards/return_state/stateful, which the masked export does not support")
    seq = clone(live.compact(h))
    if not layer.return_sequences:
        return live.last_output(seq)
    return live.spread(seq, zero_masked=bool(getattr(layer, "zero_output_for_mask", False)))


def _bidirectional(layer: Any, clones: dict[int, Any], h: Any, live: _LiveMask, why: str) -> Any:
    tf = _tf.tf()
    if layer.merge_mode not in ("concat", "sum", "mul", "ave") or layer.return_state:
        raise UnsupportedLayerError(f"{why}: Bidirectional {layer.name!r} with merge_mode={layer.merge_mode!r}/return_state is not supported")
    xc = live.compact(h)
    fwd = clones[id(layer.forward_layer)](xc)
    bwd = clones[id(layer.backward_layer)](live.reverse(xc))
    if layer.return_sequences:  # Bidirectional zeroes masked steps in both directions
        fwd = live.spread(fwd, zero_masked=True)
        bwd = live.spread(live.reverse(bwd), zero_masked=True)
    else:
        fwd, bwd = live.last_output(fwd), live.last_output(bwd)
    merge = {"concat": lambda a, b: tf.concat([a, b], -1), "sum": lambda a, b: a + b,
             "mul": lambda a, b: a * b, "ave": lambda a, b: (a + b) / 2}[layer.merge_mode]
    return merge(fwd, bwd)
