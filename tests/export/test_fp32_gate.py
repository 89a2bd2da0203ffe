"""The fp32 gate passes correct fused kernels by default and still fails the real faults.

The default (``FP32_TOLERANCE``) comes from ``benchmarks/fp32_gate.py``: correct conversions
stay at 1e-7..6e-7 relative L2 error, the faults below start near 1.5e-4. Each fault here is
produced by real converted artifacts (LiteRT / ONNX Runtime), never by editing numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_deploy import metrics
from lstm_deploy.export import ExportConfig
from lstm_deploy.export.parity import FP32_TOLERANCE, compare
from tests.helpers import run_cli
from tests.zoo import T, exported, seeded, trained_classifier


def _fp32_gate(reference, produced):
    return compare(reference, produced, quantization="fp32", inputs="x_test")


def test_one_default_and_one_rel_error():
    assert ExportConfig().fp32_tolerance == FP32_TOLERANCE == 1e-5
    ref = np.array([[0.2, 0.8]])
    report = _fp32_gate(ref, ref * (1 + 2e-5))
    assert report.rel_error == metrics.rel_error(ref * (1 + 2e-5), ref) and not report.passed


def test_issue17_model_exports_with_default_flags(tmp_path, capsys):
    """LSTM(24, return_sequences) -> LSTM(16) -> Dense(3) (Keras 3) on N(0, 1) inputs: the default export passes."""
    k = seeded("keras3")
    L = k.layers
    model = k.Sequential([k.Input((20, 8)), L.LSTM(24, return_sequences=True), L.LSTM(16), L.Dense(3, activation="softmax")])
    model.save(tmp_path / "model.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.standard_normal((16, 20, 8), np.float32), y_train=rng.integers(0, 3, 16),
             x_test=rng.standard_normal((40, 20, 8), np.float32), y_test=rng.integers(0, 3, 40))
    code, out, err = run_cli(["export", tmp_path / "model.keras", "--data", tmp_path / "d.npz", "-o", tmp_path / "out"], capsys)
    assert code == 0, out + err
    for name in ("model.fp32.tflite", "model.fp32.onnx"):
        parity = json.loads((tmp_path / "out" / f"{name}.json").read_text())["parity"]
        assert parity["passed"] and parity["rel_error"] < FP32_TOLERANCE / 10, parity


def test_gate_fails_state_carried_across_invoke():
    """The same correct artifact, run by a caller that never resets the fused LSTM's state."""
    from ai_edge_litert.interpreter import Interpreter

    model, results, _ = exported("stacked")
    art = next(r.artifact for r in results if r.format == "tflite")
    x = np.random.default_rng(3).standard_normal((12, T, 3)).astype(np.float32)
    reference = np.asarray(model(x, training=False))
    runner = Interpreter(model_path=str(art)).get_signature_runner()
    carried = np.concatenate([runner(x=x[i:i + 1])["output"] for i in range(len(x))])
    report = _fp32_gate(reference, carried)
    assert not report.passed and report.rel_error > 10 * FP32_TOLERANCE, report.message


def test_gate_fails_wrong_masking():
    """A --lengths-input artifact told every post-padded sequence is full length runs over the padding."""
    from lstm_deploy.export.convert import convert, load_artifact
    from lstm_deploy.export.plan import build_plan

    model = exported("masked")[0]
    x = np.random.default_rng(4).standard_normal((12, T, 3)).astype(np.float32)
    for i, n in enumerate(range(1, 13)):
        x[i, n % T + 1:] = 0.0
    artifact = load_artifact(convert(build_plan(model, lengths_input=True), "onnx"))
    reference = np.asarray(model(x, training=False))
    assert _fp32_gate(reference, artifact.predict(x)).passed  # lengths from the padding: correct
    report = _fp32_gate(reference, artifact.predict(x, lengths=np.full(len(x), T, np.int32)))
    assert not report.passed and report.rel_error > 10 * FP32_TOLERANCE, report.message


def test_gate_fails_a_wrong_weight():
    """The largest recurrent weight of the first LSTM zeroed before conversion."""
    from lstm_deploy import _tf
    from lstm_deploy.export.convert import convert, load_artifact

    model = exported("stacked")[0]
    bad = _tf.tf_keras().models.clone_model(model)
    bad.set_weights(model.get_weights())
    kernel, recurrent, bias = bad.layers[0].get_weights()
    recurrent.flat[np.abs(recurrent).argmax()] = 0.0
    bad.layers[0].set_weights([kernel, recurrent, bias])
    x = np.random.default_rng(5).standard_normal((12, T, 3)).astype(np.float32)
    report = _fp32_gate(np.asarray(model(x, training=False)), load_artifact(convert(bad, "onnx")).predict(x))
    assert not report.passed and report.rel_error > 10 * FP32_TOLERANCE, report.message


def test_gate_fails_int8_collapse():
    """int8 calibrated on inputs 100x too small saturates: far outside the fp32 gate and the metric budget."""
    from lstm_deploy.export.convert import convert, load_artifact
    from lstm_deploy.load.dataset import load_data

    model, data_path = trained_classifier()
    ds = load_data(data_path)
    art = load_artifact(convert(model, "tflite", "int8", calibration=ds.x_train[:32] * 0.01))
    reference, produced = np.asarray(model(ds.x_test, training=False)), art.predict(ds.x_test)
    assert _fp32_gate(reference, produced).rel_error > 1000 * FP32_TOLERANCE
    report = compare(reference, produced, quantization="int8", inputs="x_test", labels=ds.y_test, task="classification")
    assert not report.passed and report.metric_drop > 0.01, report.message


@pytest.mark.parametrize("scale", [0.1, 10.0])
def test_correct_kernels_pass_at_other_input_scales(scale):
    """Small and large (unnormalized) inputs: the correct artifact stays well inside the default."""
    from lstm_deploy.runtime import Model

    model, results, _ = exported("stacked")
    x = np.random.default_rng(6).standard_normal((16, T, 3)).astype(np.float32) * np.float32(scale)
    reference = np.asarray(model(x, training=False))
    for r in results:
        report = _fp32_gate(reference, Model.load(r.artifact).predict(x))
        assert report.passed and report.rel_error < FP32_TOLERANCE / 10, (r.format, report.message)
