"""Pick a ``tf.distribute`` strategy for fine-tuning: one machine, several GPUs, or a cluster.

* ``TF_CONFIG`` describes a cluster -> ``MultiWorkerMirroredStrategy`` (one process per worker,
  each started with its own ``TF_CONFIG``; see the README section "More than one machine").
* several GPUs visible -> ``MirroredStrategy``.
* otherwise -> the default (no-op) strategy, which is what CPU runs and the tests use.

Build and compile models inside ``strategy.scope()``; ``fit`` then splits batches across replicas.

Example:
    >>> strategy = training_strategy()             # doctest: +SKIP
    >>> with strategy.scope():                     # doctest: +SKIP
    ...     model.compile(...)
"""

from __future__ import annotations

import json
import os
from typing import Any

from .. import _tf
from ..errors import InputError


def describe_strategy(strategy: Any) -> str:
    """A short description for logs and reports, e.g. ``MirroredStrategy (2 replicas)``."""
    return f"{type(strategy).__name__} ({strategy.num_replicas_in_sync} replica{'s' if strategy.num_replicas_in_sync != 1 else ''})"


def training_strategy(env: dict[str, str] | None = None) -> Any:
    """Return the strategy that fits this machine (see module docstring)."""
    tf = _tf.tf()
    env = dict(os.environ if env is None else env)
    raw = env.get("TF_CONFIG")
    if raw:
        try:
            config = json.loads(raw)
            workers = config["cluster"]["worker"]
        except (ValueError, KeyError, TypeError):
            raise InputError("TF_CONFIG is set but is not JSON with cluster.worker; see the README section 'More than one machine'") from None
        if len(workers) > 1:
            try:
                return _tf.cluster_strategy()  # one per process, made when TensorFlow was imported
            except RuntimeError as exc:  # TF_CONFIG set after TensorFlow already ran something in this process
                raise InputError(f"TF_CONFIG names {len(workers)} workers but TensorFlow was already running in this process "
                                 f"({exc}); set TF_CONFIG in the environment before starting lstm-deploy") from None
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
