"""Full-integer TFLite of an LSTM the converter cannot fuse is refused before converting (fast tier).

TensorFlow 2.21's int8 calibrator crashes the process (segmentation fault) on the WHILE loop such
an LSTM becomes; without the guard this test's process dies instead of seeing the error.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.errors import UnsupportedLayerError
from lstm_deploy.export import ExportConfig, export_model
from lstm_deploy.load.dataset import validate_arrays
from tests import zoo


def test_int8_of_an_unfused_lstm_is_refused_naming_the_layer_and_the_way_out(tmp_path):
    model = zoo.quantizable_unfused(zoo.seeded("keras3"))  # LSTM(use_bias=False): a TFLite WHILE loop
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, *model.inputs[0].shape[1:])).astype("float32")
    y = rng.integers(0, int(model.outputs[0].shape[-1]), 12)
    data = validate_arrays({"x_train": x, "y_train": y, "x_test": x, "y_test": y})
    with pytest.raises(UnsupportedLayerError, match=r"use_bias=False.*--quantize dynamic or float16"):
        export_model(model, tmp_path / "out", ExportConfig(formats=("tflite",), quantize=("fp32", "int8")), data=data)
    assert not any((tmp_path / "out").glob("*.tflite"))  # refused before any conversion
