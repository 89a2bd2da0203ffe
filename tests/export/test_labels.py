"""Every label is true: a quantized name has quantized weights; a model's quantize target carries into export.

Fast tier: an LSTM(4) on 3 features is small enough that TFLite's dynamic-range converter
leaves every weight in float (per-gate matrices under 1024 elements). The reference for
"quantized" is LiteRT's own interpreter (tensor details) and ONNX's initializers, not the
flatbuffer walk under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_deploy.load.intent import read_intent, write_intent
from tests.helpers import make_npz, run_cli


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import tf_keras as k

    k.utils.set_random_seed(0)
    d = tmp_path_factory.mktemp("labels")
    k.Sequential([k.Input((6, 3)), k.layers.LSTM(4), k.layers.Dense(3, activation="softmax")]).save(d / "tiny.keras")
    make_npz(d / "tiny.npz", classes=3, n=40)
    return d


def _interpreter_dtypes(path):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    return {np.dtype(t["dtype"]).name for t in interp.get_tensor_details() if len(t["shape"]) >= 2}


def test_no_quantized_name_on_float_weights(tiny, tmp_path, capsys):
    out = tmp_path / "ex"
    code, stdout, err = run_cli(["export", tiny / "tiny.keras", "--data", tiny / "tiny.npz", "--tflite",
                                 "--quantize", "fp32,dynamic,int8", "-o", out], capsys)
    assert code == 0, err  # the user asked for dynamic explicitly: still a success, with one note
    written = sorted(p.name for p in out.glob("*.tflite"))
    assert written == ["tiny.fp32.tflite", "tiny.int8.tflite"]
    notes = [line for line in (stdout + err).splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "tflite dynamic" in notes[0] and "float32" in notes[0] and "not written" in notes[0]
    assert "int8" in _interpreter_dtypes(out / "tiny.int8.tflite")  # what is written under a quantized name is quantized
    assert _interpreter_dtypes(out / "tiny.fp32.tflite") <= {"float32", "int32"}
    fp32 = json.loads((out / "tiny.fp32.tflite.json").read_text())["weights"]
    int8 = json.loads((out / "tiny.int8.tflite.json").read_text())["weights"]
    assert fp32["quantized"] == 0 and fp32["float"] == fp32["total"] > 0
    assert int8["quantized"] == int8["total"] > 0 and int8["by_dtype"].get("int8", 0) > 0
    # int8 of a model this small is bigger than fp32 (quantization parameters outweigh the weights): flagged, and the manifest says so
    assert int8.get("larger_than_fp32") and "not smaller than the fp32 artifact" in err
    assert "next: lstm-deploy benchmark" in stdout


def test_onnx_dynamic_counts_initializers_and_is_flagged_when_bigger(tiny, tmp_path, capsys):
    import onnx

    out = tmp_path / "ex"
    code, _, err = run_cli(["export", tiny / "tiny.keras", "--onnx", "--quantize", "fp32,dynamic", "-o", out], capsys)
    assert code == 0, err
    proto = onnx.load(str(out / "tiny.dynamic.onnx"))
    int8_inits = sum(1 for t in proto.graph.initializer if len(t.dims) >= 2 and t.data_type == onnx.TensorProto.INT8)
    weights = json.loads((out / "tiny.dynamic.onnx.json").read_text())["weights"]
    assert weights["quantized"] == int8_inits > 0
    bigger = (out / "tiny.dynamic.onnx").stat().st_size >= (out / "tiny.fp32.onnx").stat().st_size
    assert bool(weights.get("larger_than_fp32")) == bigger
    assert ("onnx dynamic" in err and "not smaller" in err) == bigger


def test_export_continues_the_quantize_target(tiny, tmp_path, capsys):
    from lstm_deploy.compress.qat.config import QatConfig

    model = tmp_path / "qat.keras"
    model.write_bytes((tiny / "tiny.keras").read_bytes())
    write_intent(model, QatConfig(target="tflite-int8").intent())  # what quantize writes (see test_qat_cli for the command itself)
    write_intent(model, QatConfig(target="tflite-int8").intent())  # a second record replaces the first
    assert read_intent(model) == {"qat_target": "tflite-int8", "export": ["tflite", "int8"]}
    out = tmp_path / "ex"
    code, stdout, err = run_cli(["export", model, "--data", tiny / "tiny.npz", "--tflite", "-o", out], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.tflite")) == ["qat.fp32.tflite", "qat.int8.tflite"]
    assert "trained by quantize for tflite int8" in err
    # an explicit --quantize wins over the model's target
    code, _, err = run_cli(["export", model, "--tflite", "--quantize", "fp32", "-o", tmp_path / "ex2"], capsys)
    assert code == 0 and sorted(p.name for p in (tmp_path / "ex2").glob("*.tflite")) == ["qat.fp32.tflite"]
