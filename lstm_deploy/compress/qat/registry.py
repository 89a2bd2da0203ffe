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
    "Embedding": "tfmot",
    "Dropout": "passthrough",
    "SpatialDropout1D": "passthrough",
    "Flatten": "passthrough",
    "Reshape": "passthrough",
    "MaxPooling1D": "passthrough",
    "AveragePooling1D": "passthrough",
    "GlobalMaxPooling1D": "passthrough",
    "GlobalAveragePooling1D": "passthrough",
    "BatchNormalization": "passthrough",
    "LayerNormalization": "passthrough",
    "Activation": "passthrough",
    "Concatenate": "passthrough",
    "Add": "passthrough",
}

_MERGES = ("concat", "sum", "mul", "ave")
_HOW = "QAT supports LSTM, Bidirectional(LSTM), Dense, Conv1D and Embedding layers (plus weightless layers)"


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


def problem(layer: Any) -> str | None:
    """Why QAT cannot handle ``layer`` (``None`` when it can)."""
    name = layer.__class__.__name__
    if name not in KIND:
        return f"{name} is not supported; {_HOW}"
    if name == "LSTM":
        return _lstm_problem(layer)
    if name == "Bidirectional":
        inner = layer.forward_layer
        if inner.__class__.__name__ != "LSTM":
            return f"Bidirectional({inner.__class__.__name__}) is not supported; {_HOW}"
        if layer.merge_mode not in _MERGES:
            return f"merge_mode={layer.merge_mode!r}; expected one of {', '.join(_MERGES)}"
        return _lstm_problem(inner)
    if name == "Embedding" and layer.get_config().get("mask_zero"):
        return ("mask_zero=True: QAT targets the int8 kernel, and masked models have no int8 export (the padding is found "
                "from exact input values); use export --quantize dynamic or float16, or pad without masking")
    return None


def check_model(model: Any) -> None:
    """Raise :class:`UnsupportedLayerError` naming the first layer QAT cannot handle."""
    for layer in model.layers:
        why = problem(layer)
        if why:
            raise UnsupportedLayerError(
                f"layer '{layer.name}' ({layer.__class__.__name__}): {why}. "
                "Remove or replace it, or quantize after training instead (lstm-deploy export --quantize)"
            )
