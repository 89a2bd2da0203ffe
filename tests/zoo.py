"""The one model zoo of the test suite: tiny models, a trained classifier, cached exports.

Each builder takes the Keras module (``keras`` or ``tf_keras``) and returns a small
seeded model. :data:`ZOO` covers every supported layer (``test_zoo_covers_registry``
fails if a layer in ``lstm_deploy.load.layers.SUPPORTED`` has no model here);
:data:`EXPORT_ZOO` covers every architecture the export route handles (stacked,
Bidirectional, Masking, Embedding(mask_zero), Conv1D+LSTM, RNN(StackedRNNCells),
return_sequences + TimeDistributed, a regression head). :func:`exported` converts a few
reference configurations once per test process.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

T, F = 6, 3  # sequence length, features
CLF_F = 32  # features of the trained classifier


def stacked(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.LSTM(5, return_sequences=True), L.LSTM(4, go_backwards=True, unit_forget_bias=False), L.Dense(3, activation="softmax")])


def lstm_options(k: Any) -> Any:
    L = k.layers
    return k.Sequential([
        k.Input((T, F)),
        L.LSTM(4, return_sequences=True, activation="relu", recurrent_activation="tanh", use_bias=False, dropout=0.1, recurrent_dropout=0.1),
        L.GRU(3),
        L.Dense(1),
    ])


def bidirectional(k: Any) -> Any:
    L = k.layers
    i = k.Input((T, F))
    a = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="concat")(i)
    b = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum")(a)
    c = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="mul")(b)
    d = L.Bidirectional(L.LSTM(3), merge_mode="ave")(c)
    return k.Model(i, L.Dense(2, activation="softmax")(d))


def embedding_masked(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(12, 4, mask_zero=True), L.LSTM(4), L.Dense(2, activation="softmax")])


def masking_seq2seq(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.Masking(0.0), L.LSTM(4, return_sequences=True), L.TimeDistributed(L.Dense(2))])


def conv_lstm(k: Any) -> Any:
    L = k.layers
    return k.Sequential([
        k.Input((12, F)), L.Conv1D(4, 3, activation="relu"), L.MaxPooling1D(2), L.AveragePooling1D(1),
        L.BatchNormalization(), L.SpatialDropout1D(0.1), L.LSTM(4, return_sequences=True), L.LayerNormalization(),
        L.GlobalMaxPooling1D(), L.Dropout(0.2), L.Dense(3), L.Activation("softmax"),
    ])


def rnn_cells(k: Any) -> Any:
    L = k.layers
    return k.Sequential([
        k.Input((T, F)), L.RNN(L.LSTMCell(4), return_sequences=True), L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.LSTMCell(3)])), L.Dense(1),
    ])


def functional_misc(k: Any) -> Any:
    L = k.layers
    i = k.Input((T, F))
    out, h, c = L.LSTM(4, return_state=True)(i)
    s = L.Add()([out, h])
    g = L.GlobalAveragePooling1D()(L.Reshape((2, 2))(L.Flatten()(L.Reshape((4, 1))(s))))
    return k.Model(i, [L.Concatenate()([g, c]), h])


def regression(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((None, F)), L.LSTM(4), L.Dense(1)])


def stateful(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F), batch_size=3), L.LSTM(4, stateful=True, return_sequences=True), L.LSTM(3, stateful=True), L.Dense(1)])


ZOO: dict[str, Callable[[Any], Any]] = {
    f.__name__: f
    for f in (stacked, lstm_options, bidirectional, embedding_masked, masking_seq2seq, conv_lstm, rnn_cells, functional_misc, regression, stateful)
}


def layer_classes(model: Any) -> set[str]:
    """Every layer class in a model, wrapped layers and cells included."""
    names: set[str] = set()
    for layer in model.layers:
        names.add(layer.__class__.__name__)
        inner = getattr(layer, "layer", None)
        if inner is not None:
            names.add(inner.__class__.__name__)
    return names


# ---------------------------------------------------------------- export zoo


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


def stacked_cells_clf(k: Any) -> Any:
    L = k.layers
    return k.Sequential([k.Input((T, F)), L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.LSTMCell(3)])), L.Dense(2, activation="softmax")])


#: Models every export test converts (each TFLite conversion costs seconds: keep them few).
EXPORT_ZOO: dict[str, Callable[[Any], Any]] = {f.__name__: f for f in (conv_stacked_td, bidir_regression, masked, masked_seq, embedding, stacked_cells_clf)}

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
    from lstm_deploy.export import ExportConfig, export_model

    out = _ROOT / kind
    if kind == "stacked":  # plain fp32 both formats, batch 1
        k = seeded("tf_keras")
        L = k.layers
        model = k.Sequential([k.Input((T, F)), L.LSTM(5, return_sequences=True), L.LSTM(4), L.Dense(3, activation="softmax")])
        return model, export_model(model, out, name="stacked"), out
    if kind == "stacked_b4":  # same model, fixed batch 4
        model = exported("stacked")[0]
        return model, export_model(model, out, ExportConfig(formats=("tflite",), batch_size=4), name="stacked"), out
    if kind == "stacked_stream":  # same model, single-step artifacts
        model = exported("stacked")[0]
        return model, export_model(model, out, ExportConfig(formats=("tflite",), streaming=True), name="stacked"), out
    if kind == "masked":
        model = masked(seeded("tf_keras"))
        return model, export_model(model, out, name="masked"), out
    if kind == "quant":  # every mode on the trained classifier, judged on its test accuracy
        model, data = trained_classifier()
        tfl = export_model(model, out, ExportConfig(formats=("tflite",), quantize=("fp32", "float16", "dynamic", "int8")), data=data, name="clf")
        onx = export_model(model, out, ExportConfig(formats=("onnx",), quantize=("fp32", "dynamic")), data=data, name="clf")
        return model, tfl + onx, out
    raise KeyError(kind)
