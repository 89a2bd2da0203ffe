"""Training-time LSTM layers that simulate what the deployment runtime quantizes.

tfmot cannot quantize LSTM, and an LSTM wrapped for QAT reaches TFLite as a ``WHILE``
loop. So QAT here trains a *stand-in*: :class:`QatLSTM` holds the same three weights
as a Keras LSTM (``kernel``, ``recurrent_kernel``, ``bias``; gate order i, f, c, o) and
runs the recurrence with fake quantization:

* ``kernel`` / ``recurrent_kernel`` on the symmetric int8 grid (per gate, per tensor or
  per channel, see :class:`~lstm_deploy.compress.qat.config.QatScheme`), zeros kept zero;
* for full-integer TFLite also the runtime's internal tensors: input and hidden state
  int8 (calibrated ranges), gate pre-activations clipped to int16 Q3.12 ([-8, 8)), cell
  state int16 with a power-of-two range. The int8 hidden state is written with the range
  of all hidden values and read back with two other ranges, as the converted kernel does:
  the recurrence with the state tensor's (the hidden state after the last step), the next
  layer with the output tensor's (shared by both halves of a concatenating Bidirectional).
  Measured on a Bidirectional(LSTM(48)): mean |simulated - artifact| probability 0.0004,
  against 0.0010 when one range serves all three.

After training, :func:`lstm_deploy.compress.qat.build.strip` copies the snapped weights back into a
plain ``LSTM``, which exports to the fused kernels.

The classes are created on first use (:func:`classes`) so importing this module does
not import TensorFlow.

Example:
    >>> QatLSTM, QatBidirectional = classes()                    # doctest: +SKIP
    >>> layer = QatLSTM(units=8, scheme=scheme_for(QatConfig()))   # doctest: +SKIP
"""

from __future__ import annotations

import functools
from typing import Any

from ... import _tf
from .config import QatScheme
from .fakequant import GATE_CLIP, RangeTracker, fake_quant_pow2, fake_quant_range, quantize_weight_tf, requantize


def _step_fn(rk: Any, sim: bool, layer: Any) -> Any:
    """One LSTM step (gate order i, f, c, o); with ``sim``, the integer kernel's clipping and int16/int8 states.

    Under ``sim`` the int8 hidden state is written with the layer's hidden range and read back
    with the state range (recurrence) and the output range (next layer), as the kernel does.
    """
    tf = _tf.tf()
    h_range, c_range, s_range, o_range = layer.h_range, layer.c_range, layer.s_range, layer.o_range

    def step(z_t: Any, states: list[Any]) -> tuple[Any, list[Any]]:
        h, c = states
        z = z_t + tf.matmul(h, rk)
        if sim:
            z = tf.clip_by_value(z, -GATE_CLIP - 2.0**-12, GATE_CLIP)
        zi, zf, zc, zo = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(zf) * c + tf.sigmoid(zi) * tf.tanh(zc)
        if sim:
            c = fake_quant_pow2(c, tf.maximum(-c_range.lo, c_range.hi))
        h = tf.sigmoid(zo) * tf.tanh(c)
        if not sim:
            return tf.concat([h, c], axis=-1), [h, c]
        written = (h_range.lo, h_range.hi)
        h_state = requantize(h, written, (s_range.lo, s_range.hi))
        return tf.concat([requantize(h, written, (o_range.lo, o_range.hi)), c], axis=-1), [h_state, c]

    return step


def _recurrence(layer: Any, inputs: Any, mask: Any = None, initial_state: Any = None) -> Any:
    """The forward pass of a :class:`QatLSTM` (``layer``): fake-quantized input, weights and, for full int8, states.

    ``mask`` (``(batch, time)`` booleans) skips padded steps exactly as a Keras LSTM does: the
    state and output are carried over. ``initial_state`` (``[h0, c0]``) starts the recurrence
    instead of zeros.

    While ``layer.calibrating`` the float recurrence runs (with the on-grid weights, as the
    stripped model the converter calibrates) and only the ranges are recorded. Ranges are not
    updated by training: they are what the converter will measure, refreshed by
    :func:`lstm_deploy.compress.qat.build.calibrate` at every validation check.
    """
    tf, tfk = _tf.tf(), _tf.tf_keras()
    calibrating = layer.calibrating
    scheme = layer.scheme
    k, rk = layer.quantized_weights()
    x = inputs
    updates: list[Any] = []
    track = calibrating
    if scheme.quantize_activations and track:
        updates += layer.x_range.update(x)
    if scheme.quantize_activations and not calibrating:
        x = fake_quant_range(x, layer.x_range.lo, layer.x_range.hi)
    z_in = tf.einsum("bti,ig->btg", x, k)
    if layer.bias is not None:
        z_in = z_in + layer.bias
    u = layer.units
    step = _step_fn(rk, scheme.quantize_states and not calibrating, layer)
    if initial_state is None:
        zeros = tf.zeros([tf.shape(inputs)[0], u], dtype=inputs.dtype)
        initial_state = [zeros, zeros]
    last, outputs, _ = tfk.backend.rnn(step, z_in, list(initial_state), go_backwards=layer.go_backwards, mask=mask,
                                       zero_output_for_mask=layer.zero_output_for_mask)
    if scheme.quantize_states and track:
        updates += layer.h_range.update(outputs[..., :u])
        updates += layer.c_range.update(outputs[..., u:])
        updates += layer.s_range.update(last[..., :u])  # the state tensor's range: the hidden state after the last step
    result = outputs[..., :u] if layer.return_sequences else last[..., :u]
    if updates:
        with tf.control_dependencies(updates):
            result = tf.identity(result)
    return result


def _first(mask: Any) -> Any:
    """The sequence's mask when Keras hands one mask per input (``[mask, None, None]`` with initial_state)."""
    return mask[0] if isinstance(mask, (list, tuple)) else mask


def _split_state(inputs: Any, initial_state: Any) -> tuple[Any, Any]:
    """``(sequence, [h0, c0] or None)`` from a call on ``inputs`` or on ``[inputs, h0, c0]`` (how Keras replays initial_state)."""
    if isinstance(inputs, (list, tuple)):
        inputs, rest = inputs[0], list(inputs[1:])
        initial_state = rest or initial_state
    if initial_state is not None and not isinstance(initial_state, (list, tuple)):
        initial_state = [initial_state]
    return inputs, initial_state


@functools.lru_cache(maxsize=None)
def classes() -> tuple[Any, Any]:
    """Return ``(QatLSTM, QatBidirectional)``, defined against tf_keras on first call."""
    return _lstm_class(), _bidirectional_class()


@functools.lru_cache(maxsize=None)
def _lstm_class() -> Any:
    tf = _tf.tf()
    tfk = _tf.tf_keras()

    class QatLSTM(tfk.layers.Layer):
        """An LSTM with fake-quantized weights and (for full-int8) fake-quantized internals."""

        def __init__(self, units: int, scheme: QatScheme, return_sequences: bool = False,
                     go_backwards: bool = False, use_bias: bool = True, zero_output_for_mask: bool = False, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True
            self.zero_output_for_mask = zero_output_for_mask  # Keras sets it for the halves of a Bidirectional returning sequences
            self.units = units
            self.scheme = scheme
            self.return_sequences = return_sequences
            self.go_backwards = go_backwards
            self.use_bias = use_bias
            self.calibrating = False

        def build(self, input_shape: Any) -> None:
            if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple, tf.TensorShape)):
                input_shape = input_shape[0]  # [inputs, h0, c0]: called with initial_state
            n_in, u = int(input_shape[-1]), self.units
            ones = tfk.initializers.Ones()
            self.kernel = self.add_weight(name="kernel", shape=(n_in, 4 * u))
            self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(u, 4 * u))
            self.bias = self.add_weight(name="bias", shape=(4 * u,), initializer="zeros") if self.use_bias else None
            self.kernel_mask = self.add_weight(name="kernel_mask", shape=(n_in, 4 * u), initializer=ones, trainable=False)
            self.recurrent_mask = self.add_weight(name="recurrent_mask", shape=(u, 4 * u), initializer=ones, trainable=False)
            self.x_range = RangeTracker(self, "input")
            self.h_range = RangeTracker(self, "hidden")
            self.c_range = RangeTracker(self, "cell")
            self.s_range = RangeTracker(self, "state")  # set by calibration
            self.o_range = RangeTracker(self, "output")  # set by build.calibrate (the hidden range, or a merged one)
            super().build(input_shape)

        def quantized_weights(self) -> tuple[Any, Any]:
            s = self.scheme
            k = quantize_weight_tf(self.kernel * self.kernel_mask, s.lstm_gate_blocks, s.per_channel)
            rk = quantize_weight_tf(self.recurrent_kernel * self.recurrent_mask, s.lstm_gate_blocks, s.per_channel)
            return k, rk

        def call(self, inputs: Any, mask: Any = None, initial_state: Any = None, training: Any = None) -> Any:
            inputs, initial_state = _split_state(inputs, initial_state)
            return _recurrence(self, inputs, _first(mask), initial_state)

        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return _first(mask) if self.return_sequences else None

        def compute_output_shape(self, input_shape: Any) -> Any:
            if isinstance(input_shape, list):
                input_shape = input_shape[0]
            if self.return_sequences:
                return tf.TensorShape([input_shape[0], input_shape[1], self.units])
            return tf.TensorShape([input_shape[0], self.units])

        def ranges(self) -> dict[str, list[float]]:
            """Calibrated/learned activation ranges (what the runtime will quantize)."""
            out = {"input": list(self.x_range.values())}
            if self.scheme.quantize_states:
                out["hidden_state"] = list(self.h_range.values())
                out["cell_state"] = list(self.c_range.values())
            return out

    return QatLSTM


@functools.lru_cache(maxsize=None)
def _bidirectional_class() -> Any:
    tf = _tf.tf()
    tfk = _tf.tf_keras()

    class QatBidirectional(tfk.layers.Layer):
        """Bidirectional(LSTM) stand-in: two :class:`QatLSTM` and the Keras merge modes."""

        MERGES = ("concat", "sum", "mul", "ave")

        def __init__(self, forward: Any, backward: Any, merge_mode: str, return_sequences: bool, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True
            self.forward_layer = forward
            self.backward_layer = backward
            self.merge_mode = merge_mode
            self.return_sequences = return_sequences
            for half in (forward, backward):  # as Keras' Bidirectional: padded steps output zeros when returning sequences
                half.zero_output_for_mask = return_sequences

        def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
            f = self.forward_layer(inputs, mask=mask, training=training)
            b = self.backward_layer(inputs, mask=mask, training=training)
            if self.return_sequences:
                b = tf.reverse(b, axis=[1])
            if self.merge_mode == "concat":
                return tf.concat([f, b], axis=-1)
            if self.merge_mode == "sum":
                return f + b
            if self.merge_mode == "mul":
                return f * b
            return (f + b) / 2.0

        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return mask if self.return_sequences else None

    return QatBidirectional
