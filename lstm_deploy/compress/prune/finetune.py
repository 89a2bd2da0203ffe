"""Fine-tuning and scoring shared by both pruning methods (tf_keras models).

The loss is chosen from the data and the model's own output: integer/one-hot labels give
(sparse) cross-entropy, probabilities or logits detected from the model's outputs; float
targets give MSE. The metric is accuracy in percent (classification) or RMSE (regression).
Early stopping only starts counting once the pruning target is in place, so it can never
stop a run before the masks reach their sparsity.

Example:
    >>> score = evaluate(model, dataset)                      # doctest: +SKIP
    >>> history = finetune(model, dataset, cfg, start_epoch=2)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ... import _tf
from ...load.dataset import Dataset
from ...errors import DataError
from .config import PruneConfig


@dataclass(frozen=True)
class Split:
    """The arrays fine-tuning uses: train for gradients, val for early stopping."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def metric_name(dataset: Dataset) -> str:
    """``"accuracy"`` (percent, higher is better) or ``"rmse"`` (lower is better)."""
    return "accuracy" if dataset.task == "classification" else "rmse"


def metric_drop(before: float, after: float, dataset: Dataset) -> float:
    """How much worse ``after`` is than ``before`` (positive = worse), in the metric's unit."""
    return before - after if dataset.task == "classification" else after - before


def predict(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Inference-mode outputs as one float array (works for both Keras flavours)."""
    outs = [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(outs, axis=0)


def _is_probability(out: np.ndarray) -> bool:
    if out.shape[-1] == 1:
        return bool(((out >= 0) & (out <= 1)).all())
    return bool((out >= 0).all() and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))


def _targets(dataset: Dataset, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    if dataset.task == "regression":
        return y.astype(np.float32).reshape(out.shape) if y.size == out.size else y.astype(np.float32)
    labels = dataset.labels(y)
    if out.shape[-1] == 1:
        return labels.astype(np.float32).reshape(out.shape)
    return labels


def evaluate(model: Any, dataset: Dataset, x: np.ndarray | None = None, y: np.ndarray | None = None) -> float:
    """Score ``model`` on ``x_test`` (or the given arrays): accuracy in percent, or RMSE.

    Example:
        >>> evaluate(model, dataset)   # doctest: +SKIP
        93.75
    """
    x = dataset.x_test if x is None else x
    y = dataset.y_test if y is None else y
    out = predict(model, x)
    if dataset.task == "regression":
        t = _targets(dataset, y, out)
        if t.size != out.size:
            raise DataError(f"{dataset.source}: y_test has {t.size} values but the model outputs {out.size}")
        return float(np.sqrt(np.mean((out.reshape(-1) - t.reshape(-1)) ** 2)))
    labels = dataset.labels(y)
    if out.shape[-1] == 1:
        threshold = 0.5 if _is_probability(out) else 0.0
        pred = (out[..., 0] > threshold).astype(np.int64)
    else:
        pred = out.argmax(axis=-1)
    if labels.size != pred.size:
        raise DataError(
            f"{dataset.source}: labels have shape {labels.shape} but the model predicts shape {pred.shape}; "
            "give one integer label (or one-hot row) per model output"
        )
    return float(100.0 * np.mean(pred == labels.reshape(pred.shape)))


def split(dataset: Dataset, config: PruneConfig) -> Split:
    """Train/val arrays for fine-tuning (val split from train when the data has none)."""
    x_tr, y_tr, x_val, y_val = dataset.train_val_split(config.val_fraction, seed=config.seed)
    return Split(x_tr, y_tr, x_val, y_val)


def compile_for(model: Any, dataset: Dataset, config: PruneConfig) -> None:
    """Compile a tf_keras ``model`` with Adam and a loss matching the data and the model's outputs."""
    tfk = _tf.tf_keras()
    probe = predict(model, dataset.x_train[:16])
    if dataset.task == "regression":
        loss: Any = tfk.losses.MeanSquaredError()
    elif probe.shape[-1] == 1:
        loss = tfk.losses.BinaryCrossentropy(from_logits=not _is_probability(probe))
    else:
        loss = tfk.losses.SparseCategoricalCrossentropy(from_logits=not _is_probability(probe))
    model.compile(optimizer=tfk.optimizers.Adam(learning_rate=config.learning_rate), loss=loss)


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Training steps in one epoch (the last partial batch counts)."""
    return max(1, -(-n_samples // batch_size))


def finetune(
    model: Any,
    dataset: Dataset,
    config: PruneConfig,
    data: Split,
    *,
    start_epoch: int = 0,
    callbacks: Sequence[Any] = (),
) -> dict[str, list[float]]:
    """Train a compiled tf_keras ``model`` in place for up to ``config.epochs`` epochs.

    Early stopping watches ``val_loss`` from epoch ``start_epoch`` (1-based count of finished
    epochs) on and restores the best weights seen from then on. ``callbacks`` run first
    (e.g. tfmot's ``UpdatePruningStep``). Returns the Keras history dict.
    """
    tfk = _tf.tf_keras()
    tfk.utils.set_random_seed(config.seed)
    probe = predict(model, data.x_train[:2])
    y_train = _targets(dataset, data.y_train, np.zeros((len(data.y_train),) + probe.shape[1:], np.float32))
    y_val = _targets(dataset, data.y_val, np.zeros((len(data.y_val),) + probe.shape[1:], np.float32))
    stopper = _early_stopping(tfk, start_epoch=start_epoch, patience=config.patience)
    history = model.fit(
        data.x_train, y_train, validation_data=(data.x_val, y_val), epochs=config.epochs,
        batch_size=config.batch_size, shuffle=True, verbose=0, callbacks=[*callbacks, stopper],
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def _early_stopping(tfk: Any, *, start_epoch: int, patience: int) -> Any:
    class _StopAfterTarget(tfk.callbacks.Callback):
        """EarlyStopping on val_loss that ignores epochs before the pruning target is in place."""

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
