"""TFLite export: fused LSTM kernels for every architecture, parity, quantization, state, streaming."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from lstm_deploy.export import ExportConfig, export_model
from tests.zoo import EXPORT_ZOO, T, exported, seeded, trained_classifier

FLAVOURS = ("tf_keras", "keras3")


def _fresh_inputs(model, kind: str, n: int = 9, seed: int = 7) -> np.ndarray:
    """Inputs the export never saw (different seed), post-padded for masked models."""
    rng = np.random.default_rng(seed)
    if kind == "embedding":
        x = rng.integers(1, 12, size=(n, T)).astype(np.int32)
    else:
        x = rng.standard_normal((n, T, 3)).astype(np.float32)
    if kind in ("masked", "masked_seq", "embedding"):
        pad = -1.0 if kind == "masked_seq" else 0
        for i, length in enumerate(rng.integers(0, T + 1, size=n)):
            x[i, length:] = pad
    return x


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("kind", list(EXPORT_ZOO))
def test_zoo_exports_fused_with_fp32_parity(kind, flavour, tmp_path):
    from lstm_deploy.export import ExportConfig, onnx_ops, tflite_ops
    from lstm_deploy.runtime import Model

    model = EXPORT_ZOO[kind](seeded(flavour))
    results = export_model(model, tmp_path, ExportConfig(formats=("tflite", "onnx")), name=kind)
    assert [(r.format, r.quantization) for r in results] == [("tflite", "fp32"), ("onnx", "fp32")]
    tfl, onx = results
    ops = tflite_ops(tfl.artifact.read_bytes())
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops or "BIDIRECTIONAL_SEQUENCE_LSTM" in ops
    assert "WHILE" not in ops and not any(op.startswith("CUSTOM") for op in ops), ops
    oops = onnx_ops(onx.artifact.read_bytes())
    assert "LSTM" in oops and "Loop" not in oops and "Scan" not in oops, oops
    for r in results:
        assert r.fused and r.parity.passed and r.parity.rel_error <= 1e-5
        manifest = json.loads(r.manifest.read_text())
        assert manifest["source_model"]["flavour"] == flavour
        assert manifest["parity"]["rel_error"] <= 1e-5
        assert (manifest["masking"] is not None) == (kind in ("masked", "masked_seq", "embedding"))
    # independent check on inputs the export never saw (random lengths incl. 0 and full)
    x = _fresh_inputs(model, kind)
    expected = np.asarray(model(x, training=False))
    for r in results:
        got = Model.load(r.artifact).predict(x)
        assert np.abs(got - expected).max() <= 1e-5 * max(np.abs(expected).max(), 1e-6)


def test_quantization_modes_meet_budget_on_trained_model():
    from lstm_deploy.export import tflite_ops

    _, results, _ = exported("quant")
    by_mode = {(r.format, r.quantization): r for r in results}
    fp32 = by_mode[("tflite", "fp32")]
    for mode in ("float16", "dynamic", "int8"):
        r = by_mode[("tflite", mode)]
        assert r.passed and r.parity.metric == "accuracy" and r.parity.metric_drop <= 0.01
        assert r.size_bytes < 0.7 * fp32.size_bytes, (mode, r.size_bytes, fp32.size_bytes)
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in tflite_ops(r.artifact.read_bytes())
    manifest = json.loads(by_mode[("tflite", "int8")].manifest.read_text())
    x_in = next(i for i in manifest["inputs"] if i["name"] == "x")
    assert x_in["dtype"] == "int8" and x_in["scale"] > 0 and x_in["zero_point"] is not None
    assert manifest["outputs"][0]["dtype"] == "int8"
    assert manifest["parity"]["inputs"] == "x_test" and manifest["parity"]["metric_source"] >= 0.95


def test_parity_failure_writes_nothing_and_removes_stale(tmp_path):
    """int8 calibrated on inputs 100x too small saturates on x_test: accuracy collapses."""
    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.errors import ParityError
    from lstm_deploy.export import ExportConfig

    model, data_path = trained_classifier()
    ds = load_data(data_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=ds.x_train * 0.01, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)
    stale = tmp_path / "out" / "clf.int8.tflite"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    with pytest.raises(ParityError, match=r"tflite int8: accuracy 100\.00 % -> \d+\.\d+ % \(drop \+\d+\.\d+ points > 1\.00 points\)"):
        export_model(model, tmp_path / "out", ExportConfig(formats=("tflite",), quantize=("int8",), calibration_samples=32), data=bad, name="clf")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_state_is_reset_between_independent_sequences():
    """Many different sequences back to back: the runtime resets; a raw interpreter drifts."""
    from ai_edge_litert.interpreter import Interpreter

    from lstm_deploy.runtime import Model

    model, results, _ = exported("stacked")
    art = next(r.artifact for r in results if r.format == "tflite")
    x = np.random.default_rng(3).standard_normal((40, T, 3)).astype(np.float32)
    expected = np.asarray(model(x, training=False))
    got = Model.load(art).predict(x)
    assert np.abs(got - expected).max() <= 1e-5
    raw = Interpreter(model_path=str(art))
    raw.allocate_tensors()
    run = raw.get_signature_runner()
    no_reset = np.concatenate([run(x=x[i:i + 1])["output"] for i in range(len(x))])
    assert np.abs(no_reset[1:] - expected[1:]).max() > 1e-3  # the hazard is real, and the wrapper removes it
    manifest = json.loads(art.with_name(art.name + ".json").read_text())
    assert manifest["state"]["reset_between_sequences"] is True


def test_fixed_batch_artifact_matches_batch_one():
    from lstm_deploy.runtime import Model

    model, results, _ = exported("stacked_b4")
    one = Model.load(next(r.artifact for r in exported("stacked")[1] if r.format == "tflite"))
    four = Model.load(results[0].artifact)
    assert four.batch_size == 4 and one.batch_size == 1
    x = np.random.default_rng(5).standard_normal((10, T, 3)).astype(np.float32)  # 10 = 4 + 4 + 2 (padded)
    a, b = one.predict(x), four.predict(x)
    assert a.shape == b.shape == (10, 3)
    assert np.abs(a - b).max() <= 1e-6
    assert np.abs(b - np.asarray(model(x, training=False))).max() <= 1e-5


@pytest.mark.parametrize("return_sequences", [False, True])
def test_streaming_steps_equal_full_sequence(return_sequences, tmp_path):
    from lstm_deploy.export import ExportConfig
    from lstm_deploy.runtime import Model, RuntimeError_

    k = seeded("tf_keras")
    L = k.layers
    head = [L.TimeDistributed(L.Dense(2))] if return_sequences else [L.Dense(3, activation="softmax")]
    model = k.Sequential([k.Input((T, 3)), L.LSTM(5, return_sequences=True), L.LSTM(4, return_sequences=return_sequences), *head])
    results = export_model(model, tmp_path, ExportConfig(formats=("tflite", "onnx"), streaming=True), name="s")
    x = np.random.default_rng(11).standard_normal((3, T, 3)).astype(np.float32)
    expected = np.asarray(model(x, training=False))
    for r in results:
        assert r.artifact.name == f"s.fp32.stream.{r.format}" and r.parity.passed
        manifest = json.loads(r.manifest.read_text())
        assert [s["input"] for s in manifest["streaming"]["states"]] == ["state_h0", "state_c0", "state_h1", "state_c1"]
        stream = Model.load(r.artifact).stream()
        for i in range(len(x)):
            stream.reset()
            steps = np.stack([stream.step(x[i, t]) for t in range(T)])
            want = expected[i] if return_sequences else expected[i][None].repeat(1, 0)
            got = steps if return_sequences else steps[-1:]
            assert np.abs(got - want).max() <= 1e-5
        with pytest.raises(RuntimeError_, match=r"streaming \(single-step\) artifact; use \.stream\(\)\.step\(x_t\)"):
            Model.load(r.artifact).predict(x)


def test_streaming_refuses_bidirectional(tmp_path):
    from lstm_deploy.errors import UnsupportedLayerError
    from lstm_deploy.export import ExportConfig

    model = EXPORT_ZOO["bidir_regression"](seeded("tf_keras"))
    with pytest.raises(UnsupportedLayerError, match="streaming export: layer .* \\(Bidirectional\\)"):
        export_model(model, tmp_path, ExportConfig(formats=("tflite",), streaming=True))
    assert not any(tmp_path.iterdir())


def test_unfused_lstm_warns_or_fails_with_require_fused(tmp_path):
    from lstm_deploy.errors import ExportError
    from lstm_deploy.export import ExportWarning

    k = seeded("tf_keras")
    L = k.layers
    model = k.Sequential([k.Input((T, 3)), L.GRU(3), L.Dense(2)])
    with pytest.raises(ExportError, match="LSTM not fused -- .*WHILE.*--require-fused"):
        export_model(model, tmp_path / "strict", ExportConfig(formats=("tflite",), require_fused=True))
    assert not (tmp_path / "strict").exists() or not any((tmp_path / "strict").iterdir())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportWarning)
        (r,) = export_model(model, tmp_path / "lax", ExportConfig(formats=("tflite",)))
    assert any(issubclass(w.category, ExportWarning) and "WHILE" in str(w.message) for w in caught)
    manifest = json.loads(r.manifest.read_text())
    assert manifest["fused_lstm"]["fused"] is False and "slower" in manifest["fused_lstm"]["reason"]
    assert r.parity.passed


def test_bad_options_are_input_errors():
    from lstm_deploy.errors import InputError

    cases = [
        ({"quantize": ("int4",)}, "--quantize: Input should be 'fp32', 'float16', 'dynamic' or 'int8' (got 'int4')"),
        ({"formats": ("onnx",), "quantize": ("int8",)}, "--quantize int8: not available for onnx (supported: onnx: fp32, dynamic)"),
        ({"formats": ("coreml",)}, "--formats: Input should be 'tflite' or 'onnx' (got 'coreml')"),
        ({"batch_size": 0}, "--batch-size: Input should be greater than or equal to 1 (got 0)"),
        ({"opset": 7}, "--opset: Input should be greater than or equal to 13 (got 7)"),
        ({"fp32_tolerance": 0.0}, "--fp32-tolerance: Input should be greater than 0 (got 0.0)"),
        ({"streaming": True, "quantize": ("int8",)}, "--quantize int8 with --streaming is not supported"),
        ({"max_metric_drop": -1.0}, "--max-metric-drop: Input should be greater than or equal to 0 (got -1.0)"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            ExportConfig(**kwargs)


def test_stateful_model_exports_as_streaming_only(tmp_path):
    from lstm_deploy.errors import UnsupportedLayerError
    from lstm_deploy.export import ExportConfig
    from lstm_deploy.runtime import Model

    k = seeded("keras3")
    L = k.layers
    model = k.Sequential([k.Input((T, 3), batch_size=2), L.LSTM(4, stateful=True, return_sequences=True), L.LSTM(3, stateful=True), L.Dense(1)])
    with pytest.raises(UnsupportedLayerError, match="stateful layer.*export it with --streaming"):
        export_model(model, tmp_path, ExportConfig(formats=("tflite",)))
    (r,) = export_model(model, tmp_path, ExportConfig(formats=("tflite",), streaming=True))
    assert r.parity.passed and r.parity.rel_error <= 1e-5
    x = np.random.default_rng(9).standard_normal((2, T, 3)).astype(np.float32)
    for layer in model.layers[:2]:
        layer.reset_states()
    expected = np.asarray(model(x, training=False))
    stream = Model.load(r.artifact).stream()
    for i in range(2):  # each sequence from zero state, as a freshly reset stateful model
        stream.reset()
        last = [stream.step(x[i, t]) for t in range(T)][-1]
        assert np.abs(last - expected[i]).max() <= 1e-5
