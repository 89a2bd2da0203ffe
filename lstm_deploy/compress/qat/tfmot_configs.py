"""tfmot ``QuantizeConfig`` s for the non-recurrent layers (Dense, Conv1D, Conv2D, Embedding).

These layers go through tfmot's own machinery (:class:`QuantizeWrapperV2`), with two
quantizers that match the deployment converters better than tfmot's defaults for a
short fine-tune:

* :class:`WeightQuantizer`: symmetric int8 over ``max|w|`` (per tensor or per output
  channel) with a sparsity mask, identical to :func:`~lstm_deploy.compress.qat.fakequant.quantize_weight_np`;
* :class:`RangeQuantizer`: asymmetric int8 over the calibrated min/max (= post-training
  calibration of the stripped model), instead of tfmot's moving average that starts at [-6, 6].

Example:
    >>> cfg = make_quantize_config("Dense", scheme_for(QatConfig()))   # doctest: +SKIP
    >>> wrapped = tfmot_wrapper()(dense_layer, cfg)                      # doctest: +SKIP
"""

from __future__ import annotations

import functools
from typing import Any

from ... import _tf
from .config import QatScheme
from .fakequant import fake_quant_range, quantize_weight_tf

#: Weight attribute quantized for each layer class, and whether per-channel applies.
WEIGHT_ATTR = {"Dense": ("kernel", True), "Conv1D": ("kernel", True), "Conv2D": ("kernel", True), "Embedding": ("embeddings", False)}


def tfmot() -> Any:
    """Import tensorflow_model_optimization quietly (it only works with tf_keras)."""
    _tf.tf_keras()
    import tensorflow_model_optimization as tfmot_mod

    return tfmot_mod


@functools.lru_cache(maxsize=None)
def tfmot_wrapper() -> Any:
    """tfmot's ``QuantizeWrapperV2``, passing the wrapped layer's output mask on.

    The stock wrapper drops Keras masks: an ``Embedding(mask_zero=True)`` inside it would let
    the stand-in LSTMs train on padding that the stripped model masks.
    """
    from tensorflow_model_optimization.python.core.quantization.keras.quantize_wrapper import QuantizeWrapperV2

    tfmot()

    class MaskKeepingQuantizeWrapperV2(QuantizeWrapperV2):
        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return self.layer.compute_mask(inputs, mask)

    return MaskKeepingQuantizeWrapperV2


def _plain() -> Any:
    """Plain Python for methods: AutoGraph mis-resolves methods of classes defined in a function."""
    return _tf.tf().autograph.experimental.do_not_convert


@functools.lru_cache(maxsize=None)
def _weight_quantizer() -> Any:
    tfk = _tf.tf_keras()
    base = tfmot().quantization.keras
    plain = _plain()

    class WeightQuantizer(base.quantizers.Quantizer):
        """Symmetric int8 weights, zeros pinned by a mask (sparsity-preserving)."""

        def __init__(self, per_channel: bool) -> None:
            self.per_channel = per_channel

        @plain
        def build(self, tensor_shape: Any, name: str, layer: Any) -> dict[str, Any]:
            mask = layer.add_weight(f"{name}_mask", shape=tensor_shape, initializer=tfk.initializers.Ones(), trainable=False)
            return {"mask": mask}

        @plain
        def __call__(self, inputs: Any, training: Any, weights: dict[str, Any], **kwargs: Any) -> Any:
            return quantize_weight_tf(inputs * weights["mask"], 1, self.per_channel)

        def get_config(self) -> dict[str, Any]:
            return {"per_channel": self.per_channel}

    return WeightQuantizer


@functools.lru_cache(maxsize=None)
def _range_quantizer() -> Any:
    tf = _tf.tf()
    tfk = _tf.tf_keras()
    base = tfmot().quantization.keras
    plain = _plain()

    class RangeQuantizer(base.quantizers.Quantizer):
        """Asymmetric int8 activations over the calibrated min/max (what the converter measures)."""

        def __init__(self) -> None:
            self.calibrating = False  # set by build.calibrate: record ranges, do not quantize

        @plain
        def build(self, tensor_shape: Any, name: str, layer: Any) -> dict[str, Any]:
            zeros = tfk.initializers.Zeros()
            return {k: layer.add_weight(f"{name}_{k}", shape=(), initializer=zeros, trainable=False) for k in ("min", "max", "seen")}

        @plain
        def __call__(self, inputs: Any, training: Any, weights: dict[str, Any], **kwargs: Any) -> Any:
            lo, hi, seen = weights["min"], weights["max"], weights["seen"]
            if self.calibrating:  # ranges are the converter's calibration, refreshed at every check
                first = seen < 0.5
                b_lo, b_hi = tf.reduce_min(inputs), tf.reduce_max(inputs)
                ops = [lo.assign(tf.where(first, b_lo, tf.minimum(lo, b_lo))),
                       hi.assign(tf.where(first, b_hi, tf.maximum(hi, b_hi))), seen.assign(1.0)]
                with tf.control_dependencies(ops):
                    inputs = tf.identity(inputs)
            if self.calibrating:
                return inputs
            return fake_quant_range(inputs, lo, hi)

        def get_config(self) -> dict[str, Any]:
            return {}

    return RangeQuantizer


@functools.lru_cache(maxsize=None)
def _layer_quantize_config() -> Any:
    base = tfmot().quantization.keras
    plain = _plain()
    WeightQuantizer, RangeQuantizer = _weight_quantizer(), _range_quantizer()

    class LayerQuantizeConfig(base.QuantizeConfig):
        """Fake-quantize one weight attribute and, for full-int8 targets, the output."""

        def __init__(self, attr: str, per_channel: bool, quantize_output: bool) -> None:
            self.attr = attr
            self.per_channel = per_channel
            self.quantize_output = quantize_output

        @plain
        def get_weights_and_quantizers(self, layer: Any) -> list[tuple[Any, Any]]:
            return [(getattr(layer, self.attr), WeightQuantizer(self.per_channel))]

        @plain
        def get_activations_and_quantizers(self, layer: Any) -> list[tuple[Any, Any]]:
            return []

        @plain
        def set_quantize_weights(self, layer: Any, quantize_weights: list[Any]) -> None:
            setattr(layer, self.attr, quantize_weights[0])

        @plain
        def set_quantize_activations(self, layer: Any, quantize_activations: list[Any]) -> None:
            return None

        @plain
        def get_output_quantizers(self, layer: Any) -> list[Any]:
            return [RangeQuantizer()] if self.quantize_output else []

        def get_config(self) -> dict[str, Any]:
            return {"attr": self.attr, "per_channel": self.per_channel, "quantize_output": self.quantize_output}

    return LayerQuantizeConfig


def make_quantize_config(class_name: str, scheme: QatScheme) -> Any:
    """A tfmot ``QuantizeConfig`` for a Dense, Conv1D, Conv2D or Embedding layer under ``scheme``."""
    attr, channel_ok = WEIGHT_ATTR[class_name]
    quantize_output = scheme.quantize_activations and class_name != "Embedding"
    return _layer_quantize_config()(attr, scheme.per_channel and channel_ok, quantize_output)
