"""Keras baselines: eager ``model(x)`` and a compiled ``tf.function``.

Models are loaded with :func:`lstm_deploy.load.modelio.load_model` (either Keras flavour).
TensorFlow fixes its thread pools when it starts, so each thread count is measured
in its own worker process (``process_per_threads``).

Example:
    >>> rt = KerasFunction(); rt.load("model.keras", threads=1)     # doctest: +SKIP
    >>> rt.run(x[:32]).shape                                        # doctest: +SKIP
    (32, 4)
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ..registry import Runtime, register


def pin_tf_threads(threads: int) -> Any:
    """Import TensorFlow with its intra-op pool pinned to ``threads`` (inter-op 1); return ``tf``."""
    from ... import _tf

    tf = _tf.tf()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialized in this process: the pool size is fixed
        pass
    return tf


def load_keras(path: str) -> Any:
    """The Keras model object (user's flavour) stored at ``path``."""
    from ...load.modelio import load_model

    return load_model(path).model


class _KerasBase(Runtime):
    formats = ("keras",)
    process_per_threads = True

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("tensorflow") is None:
            return False, "tensorflow is not installed"
        return True, ""

    @classmethod
    def import_runtime(cls, threads: int) -> None:
        pin_tf_threads(threads)

    def load(self, path: str, threads: int) -> None:
        self.threads = threads
        self.tf = pin_tf_threads(threads)
        self.model = load_keras(path)
        self._setup()

    def _setup(self) -> None:
        pass

    def close(self) -> None:
        self.model = None


@register
class KerasEager(_KerasBase):
    name = "keras-eager"
    description = "Keras model(x) called eagerly (the naive baseline)"

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(x, training=False))


@register
class KerasFunction(_KerasBase):
    name = "keras-function"
    description = "Keras model wrapped in a tf.function with a dynamic-batch input signature"

    def _setup(self) -> None:
        tf = self.tf
        shape = [None, *[d for d in self.model.inputs[0].shape[1:]]]
        model = self.model
        self.fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x.astype(np.float32, copy=False)).numpy()
