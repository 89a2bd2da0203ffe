"""Tiny models for the export tests, plus cached exports shared by the export test files.

Each builder takes the Keras module (``keras`` or ``tf_keras``). Together they cover
every architecture the export issue names: stacked LSTMs, Bidirectional, Masking,
Embedding(mask_zero), Conv1D+LSTM, RNN(StackedRNNCells), return_sequences +
TimeDistributed, and a regression head. Models are kept few and combined so the suite
stays fast (each TFLite conversion costs seconds).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

T, F = 6, 3
CLF_F = 32  # features of the trained classifier


def conv_stacked_td(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Conv1D(4, 3, padding="same", activation="relu"), L.LSTM(5, return_sequences=True),
                         L.LSTM(4, return_sequences=True), L.TimeDistributed(L.Dense(2))])


def bidir_regression(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Bidirectional(L.LSTM(4)), L.Dense(1)])


def masked(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Masking(0.0), L.LSTM(4, return_sequences=True), L.Bidirectional(L.LSTM(3)),
                         L.Dense(3, activation="softmax")])


def masked_seq(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Masking(-1.0), L.Bidirectional(L.LSTM(3, return_sequences=True)),
                         L.LSTM(3, return_sequences=True), L.TimeDistributed(L.Dense(2))])


def embedding(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(12, 4, mask_zero=True), L.LSTM(4), L.Dense(2, activation="softmax")])


def rnn_cells(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.LSTMCell(3)])), L.Dense(2, activation="softmax")])


ZOO: dict[str, Callable[[Any], Any]] = {f.__name__: f for f in (conv_stacked_td, bidir_regression, masked, masked_seq, embedding, rnn_cells)}

_ROOT = Path(tempfile.mkdtemp(prefix="lstm-deploy-export-tests-"))
atexit.register(shutil.rmtree, _ROOT, True)


def keras_module(flavour: str) -> Any:
    from lstm_deploy import _tf

    return _tf.tf_keras() if flavour == "tf_keras" else _tf.keras3()


def seeded(flavour: str, seed: int = 0) -> Any:
    k = keras_module(flavour)
    from lstm_deploy import _tf

    _tf.tf().random.set_seed(seed)
    np.random.seed(seed)
    if flavour == "keras3":
        k.utils.set_random_seed(seed)
    return k


def separable_data(n: int = 240, seed: int = 0, features: int = F) -> dict[str, np.ndarray]:
    """A learnable 3-class task: the class decides which feature is shifted up by 1.5."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(0, 0.5, size=(n, T, features)).astype(np.float32)
    x[np.arange(n), :, y] += 1.5
    cut = n * 3 // 4
    return {"x_train": x[:cut], "y_train": y[:cut], "x_test": x[cut:], "y_test": y[cut:]}


@functools.cache
def trained_classifier() -> tuple[Any, Path]:
    """A small trained tf_keras LSTM classifier (test accuracy 1.0) and its data file.

    32 features and LSTM(40): TFLite's dynamic-range quantization leaves a fused LSTM in
    float unless every per-gate weight matrix has >= 1024 elements (40 x 32, 40 x 40).
    """
    k = seeded("tf_keras")
    L = k.layers
    model = k.Sequential([k.Input((T, CLF_F)), L.LSTM(40), L.Dense(3, activation="softmax")])
    data = separable_data(features=CLF_F)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data["x_train"], data["y_train"], epochs=15, batch_size=32, verbose=0)
    path = _ROOT / "trained.npz"
    np.savez(path, **data)
    return model, path


@functools.cache
def exported(kind: str) -> tuple[Any, list[Any], Path]:
    """Export a few reference configurations once per process: ``(model, results, out_dir)``."""
    from lstm_deploy.export import export_model

    out = _ROOT / kind
    if kind == "stacked":  # plain fp32 both formats, batch 1
        k = seeded("tf_keras")
        L = k.layers
        model = k.Sequential([k.Input((T, F)), L.LSTM(5, return_sequences=True), L.LSTM(4), L.Dense(3, activation="softmax")])
        return model, export_model(model, out, name="stacked"), out
    if kind == "stacked_b4":  # same model, fixed batch 4
        model = exported("stacked")[0]
        return model, export_model(model, out, formats=("tflite",), batch_size=4, name="stacked"), out
    if kind == "stacked_stream":  # same model, single-step artifacts
        model = exported("stacked")[0]
        return model, export_model(model, out, formats=("tflite",), streaming=True, name="stacked"), out
    if kind == "masked":
        model = masked(seeded("tf_keras"))
        return model, export_model(model, out, name="masked"), out
    if kind == "quant":  # every mode on the trained classifier, judged on its test accuracy
        model, data = trained_classifier()
        tfl = export_model(model, out, formats=("tflite",), quantize=("fp32", "float16", "dynamic", "int8"), data=data, name="clf")
        onx = export_model(model, out, formats=("onnx",), quantize=("fp32", "dynamic"), data=data, name="clf")
        return model, tfl + onx, out
    raise KeyError(kind)
