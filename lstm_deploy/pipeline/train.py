"""Train a small baseline model from a recipe's ``train:`` block (Keras 3, as users have).

Example:
    >>> model, history = train_baseline(TrainSpec(), dataset)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _tf
from ..load.dataset import Dataset, take
from ..compress.distribute import training_strategy
from ..compress.fit import loss_for, predict
from ..errors import InputError
from .recipe import Architecture, TrainSpec


def build_baseline(arch: Architecture, dataset: Dataset, vocab_size: int | None = None, n_classes: int | None = None) -> Any:
    """Build (not train) a Keras 3 model for ``dataset`` from ``arch``.

    ``n_classes`` (the data source's class names) sets a classifier's width even when the labels
    present are fewer (a ``--small`` run keeps the first samples only).
    """
    keras = _tf.keras3()
    if arch.type in CAPTIONERS:
        return build_captioner(arch, dataset, n_classes or vocab_size)
    L = keras.layers
    x = dataset.x_train
    classification = dataset.task == "classification"
    if classification:
        labels = dataset.labels(dataset.y_train)
        n_out = max(int(max(labels.max(), dataset.labels(dataset.y_test).max()) + 1), n_classes or 0)
    else:
        n_out = int(np.prod(dataset.y_train.shape[1:]) or 1)
    if arch.type == "embedding_lstm":
        if not np.issubdtype(x.dtype, np.integer):
            raise InputError("architecture type 'embedding_lstm' needs integer token ids as inputs (a text data source)")
        vocab = vocab_size or int(max(x.max(), dataset.x_test.max()) + 1)
        layers: list[Any] = [keras.Input(x.shape[1:], dtype="int32"), L.Embedding(vocab, arch.embedding_dim, mask_zero=True)]
    else:
        if x.ndim != 3:
            raise InputError(f"architecture type '{arch.type}' needs inputs shaped (samples, time, features), got {x.shape}")
        layers = [keras.Input((None if arch.masking else x.shape[1], x.shape[2]))]
        if arch.masking:
            layers.append(L.Masking(0.0))
    if arch.type == "cnn_lstm":
        layers += [L.Conv1D(arch.conv_filters, arch.conv_kernel, padding="same", activation="relu"), L.MaxPooling1D(2)]
    for i, units in enumerate(arch.units):
        last = i == len(arch.units) - 1
        lstm = L.LSTM(units, return_sequences=not last)
        layers.append(L.Bidirectional(lstm) if arch.type == "bilstm" else lstm)
        if arch.dropout:
            layers.append(L.Dropout(arch.dropout))
    layers += [L.Dense(u, activation="relu") for u in arch.dense]
    layers.append(L.Dense(n_out, activation="softmax") if classification else L.Dense(n_out))
    return keras.Sequential(layers, name=f"baseline_{arch.type}")


CAPTIONERS = ("merge_captioner", "inject_captioner")


def build_captioner(arch: Architecture, dataset: Dataset, vocab_size: int | None = None) -> Any:
    """A next-word image captioner over ``image`` and ``tokens`` inputs (see :class:`~lstm_deploy.pipeline.recipe.Architecture`).

    The inject captioner passes the Embedding's mask to the LSTM explicitly: Keras 3 drops it
    when the LSTM is called with ``initial_state``, and would then run over the padding.
    """
    keras = _tf.keras3()
    L = keras.layers
    x = dataset.x_train
    if not isinstance(x, dict) or sorted(x) != ["image", "tokens"] or x["image"].ndim != 4:
        raise InputError(f"architecture type '{arch.type}' needs 'image' (samples, height, width, channels) and 'tokens' inputs "
                         "(data kind image_captions)")
    vocab = vocab_size or int(max(x["tokens"].max(), dataset.y_train.max(), dataset.y_test.max()) + 1)
    units, filters = arch.units[0], arch.conv_filters
    image = keras.Input(x["image"].shape[1:], name="image")
    tokens = keras.Input(x["tokens"].shape[1:], dtype="int32", name="tokens")
    f = L.MaxPooling2D(2)(L.Conv2D(filters, 3, padding="same", activation="relu")(image))
    f = L.GlobalAveragePooling2D()(L.Conv2D(2 * filters, 3, padding="same", activation="relu")(f))
    f = L.Dropout(arch.dropout)(f) if arch.dropout else f
    embedding = L.Embedding(vocab, arch.embedding_dim, mask_zero=True)
    words = embedding(tokens)
    if arch.type == "merge_captioner":
        merged = L.Add()([L.Dense(units, activation="relu")(f), L.LSTM(units)(words)])
    else:
        h0, c0 = L.Dense(units, activation="tanh")(f), L.Dense(units)(f)
        merged = L.LSTM(units)(words, initial_state=[h0, c0], mask=embedding.compute_mask(tokens))
    head = L.Dense(vocab, activation="softmax")(merged)
    return keras.Model([image, tokens], head, name=arch.type)


def train_baseline(spec: TrainSpec, dataset: Dataset, seed: int = 0, vocab_size: int | None = None, verbose: int = 0,
                   progress: Callable[[str], None] | None = None, n_classes: int | None = None) -> tuple[Any, dict[str, list[float]]]:
    """Build and train a baseline; returns ``(model, history)``. Early stopping on validation loss.

    ``progress`` receives a line about every tenth of the epochs (``train: epoch 6/60: loss 0.53, val_accuracy 0.8``).
    """
    keras = _tf.keras3()
    keras.utils.set_random_seed(seed)
    x, y, xv, yv = dataset.train_val_split(spec.validation_fraction, seed=seed)
    if dataset.task == "classification":
        y, yv = dataset.labels(y), dataset.labels(yv)
    with training_strategy().scope():
        model = build_baseline(spec.architecture, dataset, vocab_size, n_classes)
        probe = predict(model, take(x, slice(0, 16)))
        model.compile(keras.optimizers.Adam(spec.learning_rate), loss=loss_for(probe, y, dataset.task, keras),
                      metrics=["accuracy"] if dataset.task == "classification" else ["mae"])
    stop = keras.callbacks.EarlyStopping(patience=spec.patience, restore_best_weights=True)
    callbacks = [stop]
    if progress is not None:
        every = max(1, spec.epochs // 10)

        def report(epoch: int, logs: dict[str, float] | None = None) -> None:
            if (epoch + 1) % every == 0 or epoch + 1 == spec.epochs:
                shown = ", ".join(f"{k} {v:.3g}" for k, v in (logs or {}).items() if k in ("loss", "val_loss", "val_accuracy", "val_mae"))
                progress(f"train: epoch {epoch + 1}/{spec.epochs}: {shown}")

        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=report))
    history = model.fit(x, y, validation_data=(xv, yv), epochs=spec.epochs, batch_size=spec.batch_size, callbacks=callbacks, verbose=verbose)
    return model, {k: [float(v) for v in vals] for k, vals in history.history.items()}
