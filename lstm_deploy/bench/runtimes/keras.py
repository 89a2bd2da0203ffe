"""Keras baselines: eager ``model(x)`` and a compiled ``tf.function``.

Models are loaded with :func:`lstm_deploy.load.modelio.load_model` (either Keras flavour).
TensorFlow fixes its thread pools when it starts, so each thread count is measured
in its own worker process (``process_per_threads``). A model with several inputs (a
captioner) takes ``{input name: array}`` batches, fed in the model's input order.

Example:
    >>> rt = KerasFunction(); rt.load("model.keras", threads=1)     # doctest: +SKIP
    >>> rt.run(x[:32]).shape                                        # doctest: +SKIP
    (32, 4)
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ...load.dataset import X
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
        from ...load.flavours import input_names

        self.threads = threads
        self.tf = pin_tf_threads(threads)
        self.model = load_keras(path)
        self.names = input_names(self.model) if len(self.model.inputs) > 1 else None
        self._setup()

    def _feeds(self, x: X) -> list[np.ndarray]:
        """A batch of a model with several inputs as one array per input, in the model's order and dtypes."""
        if not isinstance(x, dict) or sorted(x) != sorted(self.names or []):
            got = sorted(x) if isinstance(x, dict) else "one array"
            raise ValueError(f"the model takes inputs {self.names}; the data has {got}")
        return [np.asarray(x[n]).astype(_dtype(t), copy=False) for n, t in zip(self.names, self.model.inputs)]

    def _setup(self) -> None:
        pass

    def close(self) -> None:
        self.model = None


@register
class KerasEager(_KerasBase):
    name = "keras-eager"
    description = "Keras model(x) called eagerly (the naive baseline)"

    def _run_batch(self, x: X) -> np.ndarray:
        if self.names:
            return np.asarray(self.model(self._feeds(x), training=False))
        return np.asarray(self.model(x, training=False))


@register
class KerasFunction(_KerasBase):
    name = "keras-function"
    description = "Keras model wrapped in a tf.function with a dynamic-batch input signature"

    def _setup(self) -> None:
        tf = self.tf
        model = self.model
        if self.names:  # several inputs: one TensorSpec per input, in the model's order and dtypes
            specs = [tf.TensorSpec([None, *t.shape[1:]], _dtype(t)) for t in model.inputs]
            self.fn = tf.function(lambda *xs: model(list(xs), training=False), input_signature=specs)
            return
        shape = [None, *[d for d in self.model.inputs[0].shape[1:]]]
        self.fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])

    def _run_batch(self, x: X) -> np.ndarray:
        if self.names:
            return self.fn(*self._feeds(x)).numpy()
        return self.fn(x.astype(np.float32, copy=False)).numpy()


def _dtype(tensor: Any) -> str:
    """A Keras input's dtype as a NumPy name (Keras 3 gives a string, tf.keras a ``tf.DType``)."""
    dtype = tensor.dtype
    return dtype if isinstance(dtype, str) else dtype.name
