"""Which layer gets which QAT treatment; anything else is refused by name.

``KIND`` maps a Keras class name to how QAT handles it:

* ``lstm``: replaced during training by :class:`~lstm_deploy.compress.qat.lstm_layers` stand-ins;
* ``tfmot``: wrapped in tfmot's ``QuantizeWrapperV2`` with a config from
  :mod:`~lstm_deploy.compress.qat.tfmot_configs`;
* ``passthrough``: kept as is (no weights to quantize, or normalization the converter
  folds).

Example:
    >>> KIND["Dense"], KIND["LSTM"]
    ('tfmot', 'lstm')
"""

from __future__ import annotations

from typing import Any

from ...errors import UnsupportedLayerError

KIND: dict[str, str] = {
    "InputLayer": "passthrough",
    "LSTM": "lstm",
    "Bidirectional": "lstm",
    "Dense": "tfmot",
    "Conv1D": "tfmot",
    "Conv2D": "tfmot",
    "Embedding": "tfmot",
    "Dropout": "passthrough",
    "SpatialDropout1D": "passthrough",
    "Flatten": "passthrough",
    "Reshape": "passthrough",
    "MaxPooling1D": "passthrough",
    "AveragePooling1D": "passthrough",
    "GlobalMaxPooling1D": "passthrough",
    "GlobalAveragePooling1D": "passthrough",
    "MaxPooling2D": "passthrough",
    "AveragePooling2D": "passthrough",
    "GlobalMaxPooling2D": "passthrough",
    "GlobalAveragePooling2D": "passthrough",
    "BatchNormalization": "passthrough",
    "LayerNormalization": "passthrough",
    "Activation": "passthrough",
    "Concatenate": "passthrough",
    "Add": "passthrough",
    "Masking": "passthrough",  # its mask reaches the stand-in LSTMs, which honour it as Keras does
}

_MERGES = ("concat", "sum", "mul", "ave")
_HOW = "QAT supports LSTM, Bidirectional(LSTM), Dense, Conv1D, Conv2D and Embedding layers (plus weightless layers)"
#: The QAT target whose artifact has no masked form (full-integer TFLite).
FULL_INT = "tflite-int8"
MASKED_WAY_OUT = "--target tflite-dynamic (or onnx-dynamic): int8 weights, float activations, and the mask kept"


def _lstm_problem(layer: Any) -> str | None:
    cfg = layer.get_config()
    if cfg.get("activation") != "tanh" or cfg.get("recurrent_activation") != "sigmoid":
        return f"activation={cfg.get('activation')!r}, recurrent_activation={cfg.get('recurrent_activation')!r}; the fused kernels need tanh/sigmoid"
    if cfg.get("stateful"):
        return "stateful=True; QAT trains on independent sequences"
    if cfg.get("return_state"):
        return "return_state=True; QAT needs a single output"
    if cfg.get("time_major"):
        return "time_major=True; use batch-major inputs"
    return None


def problem(layer: Any, target: str = FULL_INT) -> str | None:
    """Why QAT for ``target`` cannot handle ``layer`` (``None`` when it can).

    Masks (``Embedding(mask_zero=True)``) are allowed for every target: the stand-in LSTMs honour
    the mask as Keras does, and the int8 export reads the padding from the integer token ids.
    ``Masking`` is allowed for the dynamic-range targets (its int8 export needs a lengths input).
    """
    name = layer.__class__.__name__
    if name not in KIND:
        return f"{name} is not supported; {_HOW}"
    if name == "Masking" and target == FULL_INT:
        return ("Masking: the full-integer artifact of a Masking model takes a lengths input (export --lengths-input), "
                f"which QAT does not simulate yet; use {MASKED_WAY_OUT}")
    if name == "LSTM":
        return _lstm_problem(layer)
    if name == "Bidirectional":
        inner = layer.forward_layer
        if inner.__class__.__name__ != "LSTM":
            return f"Bidirectional({inner.__class__.__name__}) is not supported; {_HOW}"
        if layer.merge_mode not in _MERGES:
            return f"merge_mode={layer.merge_mode!r}; expected one of {', '.join(_MERGES)}"
        return _lstm_problem(inner)
    return None


def check_model(model: Any, target: str = FULL_INT) -> None:
    """Raise :class:`UnsupportedLayerError` naming the first layer QAT for ``target`` cannot handle."""
    for layer in model.layers:
        why = problem(layer, target)
        if not why:
            continue
        if MASKED_WAY_OUT in why:
            raise UnsupportedLayerError(f"layer '{layer.name}' ({layer.__class__.__name__}): {why}")
        raise UnsupportedLayerError(
            f"layer '{layer.name}' ({layer.__class__.__name__}): {why}. "
            "Remove or replace it, or quantize after training instead (lstm-deploy export --quantize)"
        )


def int8_obstacle(model: Any) -> str | None:
    """Why ``model`` has no full-integer artifact of its own input contract (a ``Masking`` layer, or an unfused recurrence), or ``None``.

    A recurrence that TFLite cannot fuse is an obstacle too: the converter's int8 calibration of
    the generic ``WHILE`` loop it leaves crashes the process (a segmentation fault in TensorFlow
    2.21's calibrator, seen on an LSTM without bias), so it is never attempted.
    """
    from ...load.layers import fusion_problems

    unfused = next((why for layer in model.layers if (why := fusion_problems(layer).get("tflite"))), None)
    if unfused:
        return f"not fused in TFLite ({unfused})"
    if any(layer.__class__.__name__ == "Masking" for layer in model.layers):  # mask_zero token models have one
        return "masked (Masking: int8 needs the --lengths-input export)"
    return None
