"""Which Keras a model belongs to: :data:`Flavour` and :func:`flavour_of`.

The one fact both :mod:`lstm_deploy.load.graph` (reading a model) and
:mod:`lstm_deploy.load.flavours` (moving it between flavours) need, kept below both.

Example:
    >>> flavour_of(object())
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.BridgeError: expected a Keras model, got builtins.object
"""

from __future__ import annotations

from typing import Any, Literal

from ..errors import BridgeError

Flavour = Literal["keras3", "tf_keras"]


def flavour_of(model: Any) -> Flavour:
    """Return ``"tf_keras"`` for Keras 2 models and ``"keras3"`` for Keras 3 models."""
    module = type(model).__module__
    if module.startswith("tf_keras") or module.startswith("keras.src.engine") or module.startswith("tensorflow.python.keras"):
        return "tf_keras"
    if module.startswith("keras"):
        return "keras3"
    raise BridgeError(f"expected a Keras model, got {type(model).__module__}.{type(model).__name__}")
