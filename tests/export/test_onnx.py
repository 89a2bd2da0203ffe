"""ONNX export: dynamic batch, checker, fused LSTM (no Loop), masking inputs, dynamic quantization, opset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.zoo import T, exported, seeded


def _onnx(results):
    return next(r for r in results if r.format == "onnx" and r.quantization == "fp32")


def test_onnx_artifact_is_valid_fused_and_batch_dynamic():
    import onnx

    from lstm_deploy.runtime import Model

    model, results, _ = exported("stacked")
    r = _onnx(results)
    proto = onnx.load(str(r.artifact))
    onnx.checker.check_model(proto)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("LSTM") == 2 and "Loop" not in ops
    assert [i.name for i in proto.graph.input] == ["x"] and [o.name for o in proto.graph.output] == ["output"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 0  # symbolic batch
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    loaded = Model.load(r.artifact)
    assert loaded.batch_size is None
    x = np.random.default_rng(1).standard_normal((7, T, 3)).astype(np.float32)
    assert np.abs(loaded.predict(x) - np.asarray(model(x, training=False))).max() <= 1e-5
    manifest = json.loads(r.manifest.read_text())
    assert manifest["opset"] == 17 and manifest["batch_size"] is None and manifest["state"]["kind"] == "stateless"


def test_masked_onnx_takes_only_x_and_stays_fused():
    import onnx

    _, results, _ = exported("masked")
    r = _onnx(results)
    proto = onnx.load(str(r.artifact))
    ops = {n.op_type for n in proto.graph.node}
    assert "LSTM" in ops and "Loop" not in ops and "Scan" not in ops
    assert [i.name for i in proto.graph.input] == ["x"]
    manifest = json.loads(r.manifest.read_text())
    assert manifest["masking"]["padding"] == "any" and manifest["masking"]["lengths"] == "derived"
    assert manifest["masking"]["lengths_input"] is None


def test_onnx_dynamic_quantization_uses_dynamic_quantize_lstm():
    _, results, _ = exported("quant")
    fp32 = next(r for r in results if r.format == "onnx" and r.quantization == "fp32")
    dyn = next(r for r in results if r.format == "onnx" and r.quantization == "dynamic")
    manifest = json.loads(dyn.manifest.read_text())
    assert "DynamicQuantizeLSTM" in manifest["ops"] and "LSTM" not in manifest["ops"]
    assert manifest["fused_lstm"]["fused_ops"] == ["DynamicQuantizeLSTM"]
    assert dyn.size_bytes < 0.5 * fp32.size_bytes
    assert dyn.parity.metric_drop <= 0.01 and 0 < dyn.parity.rel_error < 0.05


def test_opset_option_is_honoured(tmp_path):
    import onnx

    from lstm_deploy.export import ExportConfig, export_model

    k = seeded("tf_keras")
    model = k.Sequential([k.Input((T, 3)), k.layers.LSTM(3), k.layers.Dense(2)])
    (r,) = export_model(model, tmp_path, ExportConfig(formats=("onnx",), opset=15))
    proto = onnx.load(str(r.artifact))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 15
    assert json.loads(r.manifest.read_text())["opset"] == 15


def test_onnx_rejects_tflite_only_modes(tmp_path):
    from lstm_deploy.errors import InputError
    from lstm_deploy.export import ExportConfig, export_model

    with pytest.raises(InputError, match=r"--quantize float16: not available for onnx \(supported: onnx: fp32, dynamic\)"):
        export_model(exported("stacked")[0], tmp_path, ExportConfig(formats=("onnx",), quantize=("float16",)))
