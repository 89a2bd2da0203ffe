"""Fake quantization, in TensorFlow (for training) and NumPy (for stripping).

Weights are quantized symmetrically to int8 ``[-127, 127]`` with ``scale = max|w| / 127``
over a block: the whole tensor, each LSTM gate (TFLite stores the Keras kernel as four
tensors), or each output channel. That is exactly what the TFLite and ONNX Runtime
quantizers compute, so weights snapped by :func:`quantize_weight_np` land on their grid
and convert without further rounding error. Activations use an asymmetric int8 range
(calibrated min/max, like the converters' calibration).

Example:
    >>> import numpy as np
    >>> w = np.array([[0.5, -1.0], [0.25, 0.1]], np.float32)
    >>> float(np.abs(quantize_weight_np(w, blocks=1, per_channel=False) - w).max()) < 1.0 / 127
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _tf

INT8_MAX = 127.0
#: TFLite's integer LSTM keeps gate pre-activations in int16 Q3.12: range [-8, 8).
GATE_CLIP = 8.0 - 2.0**-12


def _block_absmax_np(w: np.ndarray, blocks: int, per_channel: bool) -> np.ndarray:
    """max|w| broadcastable to ``w``: per output column, per column block, or per tensor."""
    a = np.abs(w.astype(np.float32))
    if per_channel:
        return a.reshape(-1, w.shape[-1]).max(axis=0)
    if blocks > 1:
        cols = w.shape[-1] // blocks
        m = a.reshape(-1, blocks, cols).max(axis=(0, 2))
        return np.repeat(m, cols)
    return np.array(a.max(), np.float32)


def quantize_weight_np(w: np.ndarray, blocks: int = 1, per_channel: bool = False) -> np.ndarray:
    """Snap ``w`` onto the symmetric int8 grid (returns float32 values on the grid).

    ``blocks`` splits the last axis into equal column blocks with one scale each (4 for
    an LSTM kernel quantized per gate); ``per_channel`` gives every column its own scale.
    """
    m = _block_absmax_np(w, blocks, per_channel)
    scale = np.where(m > 0, m / INT8_MAX, 1.0).astype(np.float32)
    q = np.clip(np.round(w.astype(np.float32) / scale), -INT8_MAX, INT8_MAX)
    return (q * scale).astype(np.float32)


def quantize_weight_tf(w: Any, blocks: int = 1, per_channel: bool = False) -> Any:
    """TensorFlow twin of :func:`quantize_weight_np` with a straight-through gradient."""
    tf = _tf.tf()
    a = tf.abs(w)
    cols = w.shape[-1]
    if per_channel:
        m = tf.reduce_max(tf.reshape(a, [-1, cols]), axis=0)
    elif blocks > 1:
        m = tf.reduce_max(tf.reshape(a, [-1, blocks, cols // blocks]), axis=[0, 2])
        m = tf.repeat(m, cols // blocks)
    else:
        m = tf.reduce_max(a)
    m = tf.stop_gradient(m)
    scale = tf.where(m > 0, m / INT8_MAX, tf.ones_like(m))
    q = tf.clip_by_value(tf.round(w / scale), -INT8_MAX, INT8_MAX) * scale
    return w + tf.stop_gradient(q - w)


def fake_quant_range(x: Any, lo: Any, hi: Any, num_bits: int = 8) -> Any:
    """Asymmetric fake quantization of ``x`` to ``num_bits`` over ``[lo, hi]`` (0 kept exact)."""
    tf = _tf.tf()
    lo = tf.minimum(lo, 0.0)
    hi = tf.maximum(hi, lo + 1e-6)
    return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=num_bits)


def _nudged(lo: Any, hi: Any) -> tuple[Any, Any]:
    """Scale and (unsigned) zero point of an asymmetric 8-bit range, zero exactly representable (TF's nudging)."""
    tf = _tf.tf()
    lo = tf.minimum(lo, 0.0)
    hi = tf.maximum(hi, lo + 1e-6)
    scale = (hi - lo) / 255.0
    return scale, tf.clip_by_value(tf.round(-lo / scale), 0.0, 255.0)


def requantize(x: Any, encode: tuple[Any, Any], decode: tuple[Any, Any]) -> Any:
    """Write ``x`` as int8 with range ``encode`` and read it back with range ``decode`` (straight-through gradient).

    TFLite's integer LSTM does exactly this with its hidden state: it writes ``h`` with the
    scale of its hidden intermediate and the recurrence reads it with the state tensor's
    scale, the next layer with the output tensor's; the converter does not always make
    these equal (e.g. the outputs of a concatenated Bidirectional share one range).
    """
    tf = _tf.tf()
    s1, z1 = _nudged(*encode)
    s2, z2 = _nudged(*decode)
    q = tf.clip_by_value(tf.round(x / s1) + z1, 0.0, 255.0)
    return x + tf.stop_gradient((q - z2) * s2 - x)


def fake_quant_pow2(x: Any, absmax: Any) -> Any:
    """int16 symmetric fake quantization with a power-of-two range (TFLite's LSTM cell state)."""
    tf = _tf.tf()
    bound = tf.pow(2.0, tf.math.ceil(tf.math.log(tf.maximum(absmax, 2.0**-8)) / tf.math.log(2.0)))
    return tf.quantization.fake_quant_with_min_max_vars(x, -bound, bound, num_bits=16, narrow_range=True)


class RangeTracker:
    """Running min/max of a tensor, stored in two non-trainable weights of ``layer``.

    Mirrors post-training calibration (global min/max over the calibration data): the
    first batch seen in training initializes the range, later batches widen it.
    """

    def __init__(self, layer: Any, name: str) -> None:
        tfk = _tf.tf_keras()
        init = tfk.initializers.Zeros()
        self.lo = layer.add_weight(name=f"{name}_min", shape=(), initializer=init, trainable=False)
        self.hi = layer.add_weight(name=f"{name}_max", shape=(), initializer=init, trainable=False)
        self.seen = layer.add_weight(name=f"{name}_seen", shape=(), initializer=init, trainable=False)

    def update(self, x: Any) -> list[Any]:
        """Widen the range with ``x``'s min/max; returns the assign ops."""
        tf = _tf.tf()
        b_lo, b_hi = tf.reduce_min(x), tf.reduce_max(x)
        first = self.seen < 0.5
        lo = tf.where(first, b_lo, tf.minimum(self.lo, b_lo))
        hi = tf.where(first, b_hi, tf.maximum(self.hi, b_hi))
        return [self.lo.assign(lo), self.hi.assign(hi), self.seen.assign(1.0)]

    def ready(self) -> Any:
        """Whether a range has been observed (before that, fake quantization is skipped)."""
        return self.seen > 0.5

    def values(self) -> tuple[float, float]:
        return float(self.lo.numpy()), float(self.hi.numpy())
