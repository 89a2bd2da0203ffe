"""Quiet, explicit access to TensorFlow and both Keras flavours.

Import TensorFlow only through these helpers, inside functions. They set the
environment first so users do not drown in C++ log lines, and they never rely on
``tf.keras``: tensorflow-model-optimization flips ``TF_USE_LEGACY_KERAS`` on import,
which silently changes what ``tf.keras`` means. We always name the flavour:
``keras`` (Keras 3) or ``tf_keras`` (Keras 2).
"""

from __future__ import annotations

import logging
import os
import warnings
from types import ModuleType

_QUIET = False


def quiet(verbose: bool = False) -> None:
    """Hide TensorFlow's log noise unless ``verbose``; call before importing TF."""
    global _QUIET
    if _QUIET:
        return
    _QUIET = True
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*is deprecated.*")
        for name in ("tensorflow", "absl", "tf2onnx", "h5py"):
            logging.getLogger(name).setLevel(logging.ERROR)


def tf() -> ModuleType:
    """Return the ``tensorflow`` module, imported quietly."""
    quiet()
    import tensorflow

    tensorflow.get_logger().setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with tensorflow
        pass
    return tensorflow


def keras3() -> ModuleType:
    """Return Keras 3 (the ``keras`` package) on the TensorFlow backend."""
    tf()
    import keras

    return keras


def tf_keras() -> ModuleType:
    """Return Keras 2 (the ``tf_keras`` package), which tfmot and the fused TFLite route need."""
    tf()
    import tf_keras as tfk

    return tfk
