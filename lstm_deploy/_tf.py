"""Quiet, explicit access to TensorFlow and both Keras flavours.

Import TensorFlow only through these helpers, inside functions. They set the
environment first so users do not drown in C++ log lines, and they never rely on
``tf.keras``: tensorflow-model-optimization flips ``TF_USE_LEGACY_KERAS`` on import,
which silently changes what ``tf.keras`` means. We always name the flavour:
``keras`` (Keras 3) or ``tf_keras`` (Keras 2).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import Any, Iterator

_QUIET = False
_VERBOSE = False
_CLUSTER: Any = None  # this process's MultiWorkerMirroredStrategy, made right after TensorFlow's import


@contextlib.contextmanager
def _silenced_fd(fd: int, stream: Any) -> Iterator[None]:
    """Point file descriptor ``fd`` at /dev/null for the block (C++ code writes there directly)."""
    if _VERBOSE:
        yield
        return
    try:
        stream.flush()
        saved = os.dup(fd)
    except (OSError, ValueError):  # no real descriptor (e.g. some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        stream.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def silenced_stderr() -> contextlib.AbstractContextManager[None]:
    """Silence C++ log lines written straight to file descriptor 2 (absl logs ignore TF_CPP_MIN_LOG_LEVEL).

    Used around TensorFlow's import and converter calls; a no-op in verbose mode.
    Python-level errors still propagate as exceptions, so nothing the user needs is lost.
    """
    return _silenced_fd(2, sys.stderr)


@contextlib.contextmanager
def silenced_converter() -> Iterator[None]:
    """Silence the TFLite converter's C++ chatter on both stdout and stderr (e.g. ``fully_quantize: 0, ...``).

    Converter failures still raise Python exceptions carrying their message.
    """
    with _silenced_fd(1, sys.stdout), _silenced_fd(2, sys.stderr):
        yield


def quiet(verbose: bool = False) -> None:
    """Hide TensorFlow's log noise unless ``verbose``; call before importing TF."""
    global _QUIET, _VERBOSE
    if _QUIET:
        return
    _QUIET = True
    _VERBOSE = verbose
    from lstm_deploy_runtime._stderr import show_native_logs

    show_native_logs(verbose)  # the runtime's own silencer (LiteRT's delegate lines) follows -vv too
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
    if "tensorflow" not in sys.modules:
        with silenced_stderr():
            import tensorflow
    import tensorflow

    tensorflow.get_logger().setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with tensorflow
        pass
    if _CLUSTER is None and cluster_size(os.environ.get("TF_CONFIG")) > 1:
        cluster_strategy()
    return tensorflow


def cluster_size(tf_config: str | None) -> int:
    """Workers named by a ``TF_CONFIG`` value (0 when unset or unreadable; ``compress.distribute`` explains a bad one)."""
    import json

    try:
        return len(json.loads(tf_config)["cluster"]["worker"]) if tf_config else 0
    except (ValueError, KeyError, TypeError):
        return 0


def cluster_strategy() -> Any:
    """This process's ``MultiWorkerMirroredStrategy`` (``TF_CONFIG`` names the workers), made once.

    TensorFlow accepts it only before any operation has run ("Collective ops must be configured
    at program startup"), so :func:`tf` makes it right after the import when ``TF_CONFIG`` names
    several workers, and every later fine-tune reuses it.
    """
    global _CLUSTER
    if _CLUSTER is None:
        import tensorflow

        _CLUSTER = tensorflow.distribute.MultiWorkerMirroredStrategy()
    return _CLUSTER


def keras3() -> ModuleType:
    """Return Keras 3 (the ``keras`` package) on the TensorFlow backend."""
    tf()
    with silenced_stderr():
        import keras

    return keras


def tf_keras() -> ModuleType:
    """Return Keras 2 (the ``tf_keras`` package), which tfmot and the fused TFLite route need."""
    tf()
    with silenced_stderr():
        import tf_keras as tfk

    return tfk
