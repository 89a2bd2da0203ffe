"""The TFLite converter clips the fused LSTM's cell state at 10; Keras does not, so float exports remove the clip."""

from __future__ import annotations

import numpy as np
import pytest

T = 30


def _counter(keras):
    """LSTM(1) whose cell state counts the inputs: +1 for 15 steps (c reaches 15), then -1 (back to 0).

    With gates i = f = 1 and g = tanh(20 x) = x, ``c_t = c_(t-1) + x_t``; clipped at 10 it would
    come back to -5 and the output h = 0.5 tanh(c) would end near -0.5 instead of 0.
    """
    model = keras.Sequential([keras.Input((T, 1)), keras.layers.LSTM(1)])
    big = 20.0
    kernel = np.array([[0.0, 0.0, big, 0.0]], np.float32)  # gate order i, f, c, o
    bias = np.array([big, big, 0.0, 0.0], np.float32)
    model.layers[0].set_weights([kernel, np.zeros((1, 4), np.float32), bias])
    x = np.concatenate([np.ones((1, T // 2, 1)), -np.ones((1, T // 2, 1))], axis=1).astype(np.float32)
    return model, x


@pytest.mark.parametrize("quantization", ["fp32", "float16", "dynamic"])
def test_float_tflite_lstm_keeps_cell_states_past_ten(keras3, quantization):
    from lstm_deploy.export.convert import convert, load_artifact
    from lstm_deploy.export.tflite import lstm_cell_clips
    from lstm_deploy.load.flavours import predict, to_tf_keras

    model, x = _counter(keras3)
    expected = predict(model, x)
    assert abs(float(expected[0, 0])) < 1e-3  # Keras: c went 0 -> 15 -> 0
    art = convert(to_tf_keras(model), "tflite", quantization)
    assert lstm_cell_clips(art.data) == [0.0]
    got = load_artifact(art).predict(x)
    np.testing.assert_allclose(got, expected, atol=1e-3 if quantization == "fp32" else 2e-2)


def test_int8_keeps_the_converters_clip(keras3):
    """The integer kernel quantizes its cell state against the clip: int8 artifacts are left as converted."""
    from lstm_deploy.export.convert import convert
    from lstm_deploy.export.tflite import lstm_cell_clips
    from lstm_deploy.load.flavours import to_tf_keras

    model, x = _counter(keras3)
    art = convert(to_tf_keras(model), "tflite", "int8", calibration=x)
    assert lstm_cell_clips(art.data) == [10.0]


def test_unclip_changes_only_the_clip(keras3):
    from lstm_deploy.export.tflite import lstm_cell_clips, unclip_lstm_cells
    from lstm_deploy.export.convert import convert
    from lstm_deploy.load.flavours import to_tf_keras

    model, _ = _counter(keras3)
    clipped = convert(to_tf_keras(model), "tflite", "int8", calibration=np.ones((2, T, 1), np.float32)).data
    fixed = unclip_lstm_cells(clipped)
    assert len(fixed) == len(clipped) and lstm_cell_clips(fixed) == [0.0]
    assert sum(a != b for a, b in zip(fixed, clipped)) <= 4  # one float32 rewritten in place
