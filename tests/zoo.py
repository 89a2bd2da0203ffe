"""Tiny models covering every supported layer, buildable in either Keras flavour.

Each builder takes the Keras module (``keras`` or ``tf_keras``) and returns a small
seeded model. Tests parametrize over :data:`ZOO`; ``test_zoo_covers_registry``
fails if a layer in ``lstm_deploy.layers.SUPPORTED`` has no model here.
"""

from __future__ import annotations

from typing import Any, Callable

T, F = 6, 3  # sequence length, features


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
