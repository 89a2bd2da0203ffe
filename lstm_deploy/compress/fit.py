"""Fine-tuning shared by pruning, QAT and baseline training: split, loss, targets, early stopping, scoring.

One place chooses the loss (from the data and the model's own outputs: probabilities or
logits, sparse or one-hot labels, or MSE for regression), one batched ``predict``
(:func:`lstm_deploy.load.flavours.predict`) serves every score, and scores are the primary
metric of :mod:`lstm_deploy.metrics` (accuracy as a fraction, or RMSE).

Example:
    >>> score = evaluate(model, dataset)                          # doctest: +SKIP
    >>> compile_for(model, dataset, learning_rate=1e-3)           # doctest: +SKIP
    >>> history = finetune(model, dataset, split(dataset), epochs=10, batch_size=32)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from .. import _tf, metrics
from ..errors import DataError
from ..load.dataset import Dataset
from ..load.flavours import predict

__all__ = ["Split", "compile_for", "evaluate", "finetune", "is_probability", "loss_for", "predict", "split", "steps_per_epoch", "targets"]


@dataclass(frozen=True)
class Split:
    """The arrays fine-tuning uses: train for gradients, val for early stopping and model selection."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def split(dataset: Dataset, val_fraction: float = 0.1, seed: int = 0) -> Split:
    """Train/val arrays (val split from train when the data has none; never the test set)."""
    return Split(*dataset.train_val_split(val_fraction, seed=seed))


def is_probability(out: np.ndarray) -> bool:
    """Whether model outputs look like probabilities (sigmoid in [0, 1], or softmax rows summing to 1)."""
    out = np.asarray(out)
    if out.size == 0 or out.min() < 0 or out.max() > 1:
        return False
    return out.shape[-1] == 1 or bool(np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))


def loss_for(probe: np.ndarray, y: np.ndarray, task: str, keras: ModuleType | None = None) -> Any:
    """The loss that fits a model whose outputs look like ``probe`` and targets ``y``.

    ``keras`` is the flavour's module (``tf_keras`` by default; Keras 3 for baselines).
    """
    k = keras or _tf.tf_keras()
    if task == "regression":
        return k.losses.MeanSquaredError()
    from_logits = not is_probability(probe)
    if probe.shape[-1] == 1:
        return k.losses.BinaryCrossentropy(from_logits=from_logits)
    one_hot = y.ndim == probe.ndim and y.shape[-1] == probe.shape[-1]
    cls = k.losses.CategoricalCrossentropy if one_hot else k.losses.SparseCategoricalCrossentropy
    return cls(from_logits=from_logits)


def targets(dataset: Dataset, y: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """``y`` shaped for ``fit`` against outputs of ``out_shape`` (per-sample shape)."""
    if dataset.task == "regression":
        y = y.astype(np.float32)
        return y.reshape((len(y),) + tuple(out_shape)) if y.size == len(y) * int(np.prod(out_shape)) else y
    if out_shape[-1] == 1:
        return dataset.labels(y).astype(np.float32).reshape((len(y),) + tuple(out_shape))
    return y


def compile_for(model: Any, dataset: Dataset, learning_rate: float, keras: ModuleType | None = None) -> None:
    """Compile ``model`` with Adam and :func:`loss_for` its outputs on ``dataset``."""
    k = keras or _tf.tf_keras()
    probe = predict(model, dataset.x_train[:16])
    model.compile(optimizer=k.optimizers.Adam(learning_rate=learning_rate), loss=loss_for(probe, dataset.y_train, dataset.task, k))


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Training steps in one epoch (the last partial batch counts)."""
    return max(1, -(-n_samples // batch_size))


def evaluate(model: Any, dataset: Dataset, x: np.ndarray | None = None, y: np.ndarray | None = None) -> float:
    """The primary metric of ``model`` on ``x_test`` (or the given arrays): accuracy fraction or RMSE.

    Example:
        >>> evaluate(model, dataset)   # doctest: +SKIP
        0.9375
    """
    x = dataset.x_test if x is None else x
    y = dataset.y_test if y is None else y
    out = predict(model, x)
    if not _targets_fit(y, out, dataset.task):
        raise DataError(f"{dataset.source}: targets of shape {y.shape} do not fit model outputs of shape {out.shape}; "
                        "give one target (an integer label or a one-hot row for classification) per model output")
    logits = out.shape[-1] == 1 and not is_probability(out)
    return metrics.score(y, out, dataset.task, logits=logits)


def _targets_fit(y: np.ndarray, out: np.ndarray, task: str) -> bool:
    if task == "regression":
        return y.size == out.size
    try:
        metrics.true_classes(y, out)
    except ValueError:
        return False
    return True


def finetune(
    model: Any,
    dataset: Dataset,
    data: Split,
    *,
    epochs: int,
    batch_size: int = 32,
    patience: int = 3,
    seed: int = 0,
    start_epoch: int = 0,
    callbacks: Sequence[Any] = (),
) -> dict[str, list[float]]:
    """Train a compiled tf_keras ``model`` in place for up to ``epochs`` epochs.

    Early stopping watches ``val_loss`` from epoch ``start_epoch`` (1-based count of finished
    epochs) on and restores the best weights seen from then on. ``callbacks`` run first
    (e.g. tfmot's ``UpdatePruningStep``). Returns the Keras history dict.
    """
    tfk = _tf.tf_keras()
    tfk.utils.set_random_seed(seed)
    shape = predict(model, data.x_train[:2]).shape[1:]
    stopper = _early_stopping(tfk, start_epoch=start_epoch, patience=patience)
    history = model.fit(
        data.x_train, targets(dataset, data.y_train, shape), validation_data=(data.x_val, targets(dataset, data.y_val, shape)),
        epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0, callbacks=[*callbacks, stopper],
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def _early_stopping(tfk: Any, *, start_epoch: int, patience: int) -> Any:
    class _StopAfterTarget(tfk.callbacks.Callback):
        """EarlyStopping on val_loss that ignores epochs before ``start_epoch`` (e.g. the pruning target is in place)."""

        def __init__(self) -> None:
            super().__init__()
            self.best = np.inf
            self.best_weights: list[np.ndarray] | None = None
            self.wait = 0

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            if epoch + 1 < start_epoch:
                return
            value = (logs or {}).get("val_loss", np.inf)
            if value < self.best:
                self.best, self.wait = value, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= patience:
                    self.model.stop_training = True

        def on_train_end(self, logs: dict[str, float] | None = None) -> None:
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return _StopAfterTarget()
