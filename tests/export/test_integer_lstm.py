"""Full-integer LSTMs read their states as the integer kernel writes them (:mod:`lstm_deploy.export.lstm_flatbuffer`).

The converter left two traps in int8 artifacts, both fixed in the flatbuffer after conversion:
a cell-state scale under 2**-15 (the integer kernel then skips its tanh: every output the same)
and hidden-state / intermediate / output scales calibrated apart (each step re-reads its state at
a wrong scale). Each test below fails with ``repair_integer_lstms`` taken out of ``convert_tflite``.
"""

from __future__ import annotations

import numpy as np

from lstm_deploy.export import ExportConfig, export_model
from lstm_deploy.export.lstm_flatbuffer import MIN_CELL_SCALE, integer_lstm_states
from lstm_deploy.runtime import Model
from tests.export.test_masked_int8 import T, VOCAB, _tokens
from tests.zoo import seeded


def test_small_cell_range_still_goes_through_the_tanh(tmp_path):
    """An LSTM whose cell state stays under 0.5 (small weights): int8 follows Keras instead of answering a constant."""
    k = seeded("keras3", seed=4)
    L = k.layers
    model = k.Sequential([k.Input((T, 3)), L.LSTM(8), L.Dense(1)])
    w, u, b = model.layers[0].get_weights()
    model.layers[0].set_weights([w * 0.3, u * 0.3, b])  # cell state well under 0.5: calibrated scale 2**-16 before the fix
    kd, bd = model.layers[1].get_weights()
    model.layers[1].set_weights([kd * 10, bd])
    x = np.random.default_rng(0).standard_normal((200, T, 3)).astype(np.float32)
    y = np.asarray(model(x)).ravel()
    np.savez(tmp_path / "d.npz", x_train=x[:150], y_train=y[:150], x_test=x[150:], y_test=y[150:])
    cfg = ExportConfig(formats=("tflite",), quantize=("int8",), max_metric_drop=100.0)  # measure here, do not gate
    (r,) = export_model(model, tmp_path, cfg, data=tmp_path / "d.npz", name="small_cell")
    (state,) = integer_lstm_states(r.artifact.read_bytes())
    assert state["cell"][0] >= MIN_CELL_SCALE
    got = Model.load(r.artifact).predict(x[150:]).ravel()
    assert np.corrcoef(got, y[150:])[0, 1] > 0.99  # was a constant (zero variance)
    assert np.abs(got - y[150:]).max() < 0.1 * np.ptp(y)  # was 2.27 on a 4.0 range


def test_integer_lstm_reads_its_states_as_it_writes_them_bidirectional_text(tmp_path):
    """A trained Embedding(mask_zero) -> Bidirectional(LSTM) keeps its accuracy at int8 (issue 29's BiLSTMs).

    Without :func:`repair_integer_lstms` the converter's separately calibrated state / hidden /
    output scales (and a cell range under 0.5, where the integer kernel skips its tanh) made a
    trained Rotten Tomatoes BiLSTM answer one class for every snippet (77.5 % -> 58.0 %).
    """
    k = seeded("keras3", seed=3)
    L = k.layers
    model = k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(VOCAB, 8, mask_zero=True), L.Bidirectional(L.LSTM(8)),
                          L.Dense(2, activation="softmax")])
    x, y = _tokens(400, 1)
    model.compile(k.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    model.fit(x[:300], y[:300], epochs=12, batch_size=32, verbose=0)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x[:300], y_train=y[:300], x_test=x[300:], y_test=y[300:])
    (r,) = export_model(model, tmp_path, ExportConfig(formats=("tflite",), quantize=("int8",)), data=path, name="bi")
    states = integer_lstm_states(r.artifact.read_bytes())
    assert len(states) == 2  # forward and backward integer kernels
    for s in states:
        assert s["state"] == s["output"] == s["hidden"] and s["cell"][0] >= MIN_CELL_SCALE
    keras = np.asarray(model(x[300:], training=False))
    got = Model.load(r.artifact).predict(x[300:])
    assert float(np.mean(keras.argmax(-1) == got.argmax(-1))) >= 0.95
    assert float(np.mean(got.argmax(-1) == y[300:])) >= float(np.mean(keras.argmax(-1) == y[300:])) - 0.02
