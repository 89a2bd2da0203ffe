"""lstm_deploy.runtime: TensorFlow-free loading, batching, masking lengths, quantized I/O, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import bare_tflite_predict
from tests.zoo import T, exported, trained_classifier

ROOT = Path(__file__).resolve().parents[1]

_NO_TF = """
import sys, numpy as np
from lstm_deploy.runtime import Model
x = np.load(sys.argv[2])
y = Model.load(sys.argv[1]).predict(x)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'tf2onnx', 'tensorflow_model_optimization'))
assert not heavy, heavy
np.save(sys.argv[3], y)
"""


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_runtime_never_imports_tensorflow(fmt, tmp_path):
    model, results, _ = exported("masked")
    art = next(r.artifact for r in results if r.format == fmt)
    x = np.random.default_rng(2).standard_normal((5, T, 3)).astype(np.float32)
    x[1, 2:] = 0.0
    x[3, 5:] = 0.0
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([sys.executable, "-c", _NO_TF, str(art), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    y = np.load(tmp_path / "y.npy")
    assert np.abs(y - np.asarray(model(x, training=False))).max() <= 1e-5


def test_runtime_matches_the_bare_runtime_apis_and_keras():
    """runtime.Model against independent references: the bare LiteRT / ONNX Runtime APIs and the Keras model."""
    import onnxruntime as ort

    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.runtime import Model

    model, results, _ = exported("quant")
    ds = load_data(trained_classifier()[1])
    x = ds.x_test[:24]
    keras_out = np.asarray(model(x, training=False))
    for r in results:
        got = Model.load(r.artifact).predict(x)
        if r.format == "tflite":
            bare = bare_tflite_predict(r.artifact, x)
        else:
            session = ort.InferenceSession(str(r.artifact), providers=["CPUExecutionProvider"])
            bare = session.run(None, {session.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, bare, atol=1e-6, err_msg=f"{r.format} {r.quantization}")
        tolerance = 1e-5 if r.quantization in ("fp32", "float16") else 0.1  # int8 weights move probabilities by a few %
        tolerance = 2e-3 if r.quantization == "float16" else tolerance
        assert np.abs(got - keras_out).max() <= tolerance, (r.format, r.quantization)


def test_int8_artifact_quantizes_inputs_and_dequantizes_outputs():
    """runtime.Model reads each int8 tensor's scale/zero point from the artifact and applies them both ways.

    References: the interpreter's own tensor details, and the Keras model (test accuracy 1.0).
    """
    from ai_edge_litert.interpreter import Interpreter

    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.runtime import Model

    model, results, _ = exported("quant")
    path = next(r.artifact for r in results if r.format == "tflite" and r.quantization == "int8")
    m = Model.load(path)
    raw = Interpreter(model_path=str(path))
    (inp,), (out,) = raw.get_input_details(), raw.get_output_details()
    assert inp["dtype"] == out["dtype"] == np.int8
    assert (m.inputs["x"].scale, m.inputs["x"].zero_point) == pytest.approx(inp["quantization"])
    assert (m.outputs["output"].scale, m.outputs["output"].zero_point) == pytest.approx(out["quantization"])
    ds = load_data(trained_classifier()[1])
    y = m.predict(ds.x_test)
    scale, zp = out["quantization"]
    steps = y / scale + zp  # dequantized outputs sit exactly on the output tensor's int8 grid
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert y.dtype == np.float32 and steps.min() >= -128.001 and steps.max() <= 127.001
    keras = np.asarray(model(ds.x_test, training=False))
    assert np.abs(y - keras).max() <= 2 * scale + 0.05  # a few int8 steps from the float model, never raw int8 codes
    assert np.array_equal(y.argmax(1), keras.argmax(1)) and np.mean(y.argmax(1) == ds.y_test) == 1.0


def test_lengths_from_padding_and_pre_padding_error():
    from lstm_deploy.runtime import RuntimeError_, lengths_from_padding

    x = np.zeros((3, 4, 2), np.float32)
    x[0, :2] = 1.0
    x[1, :] = 2.0
    spec = {"kind": "masking", "mask_value": 0.0}
    assert lengths_from_padding(x, spec).tolist() == [2, 4, 0]
    assert lengths_from_padding(np.array([[3, 4, 0, 0]]), {"kind": "mask_zero"}).tolist() == [2]
    x[2, 3] = 1.0  # a real step after padding: pre-padded
    with pytest.raises(RuntimeError_, match="input sequence 2 has padding steps before real steps.*padding='post'"):
        lengths_from_padding(x, spec)


def test_runtime_errors_are_clear(tmp_path):
    from lstm_deploy.runtime import Model, RuntimeError_

    _, results, _ = exported("stacked")
    art = next(r.artifact for r in results if r.format == "onnx")
    lonely = tmp_path / "m.onnx"
    lonely.write_bytes(art.read_bytes())
    with pytest.raises(RuntimeError_, match=r"manifest .*m\.onnx\.json not found"):
        Model.load(lonely)
    (tmp_path / "m.onnx.json").write_text(json.dumps({"format": "coreml"}))
    with pytest.raises(RuntimeError_, match="format 'coreml' is unknown; expected one of tflite, onnx"):
        Model.load(lonely)
    m = Model.load(art)
    with pytest.raises(RuntimeError_, match=r"input x has shape \(2, 5, 3\); m?.*expects \(n, 6, 3\)"):
        m.predict(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(RuntimeError_, match="full-sequence artifact; re-export the model with --streaming|full-sequence artifact"):
        m.stream()


EXAMPLES = ROOT / "examples"


def test_example_app_predicts_without_tensorflow(tmp_path):
    model, results, _ = exported("stacked")
    art = next(r.artifact for r in results if r.format == "tflite")
    x = np.random.default_rng(4).standard_normal((3, T, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = "\n".join([
        "import runpy, sys",
        f"sys.argv = ['predict.py', {str(art)!r}, {str(tmp_path / 'x.npy')!r}]",
        "try:",
        f"    runpy.run_path({str(EXAMPLES / 'app' / 'predict.py')!r}, run_name='__main__')",
        "except SystemExit as exc:",
        "    assert not exc.code, exc.code",
        "assert 'tensorflow' not in sys.modules",
    ])
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    assert np.abs(np.array(payload["y"]) - np.asarray(model(x, training=False))).max() <= 1e-5
    assert payload["classes"] == np.asarray(model(x, training=False)).argmax(1).tolist()


def test_streaming_example_matches_full_sequence():
    _, stream_results, _ = exported("stacked_stream")
    full = next(r.artifact for r in exported("stacked")[1] if r.format == "tflite")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "streaming.py"), str(stream_results[0].artifact), "--full", str(full),
                           "--sequences", "4"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    worst = float(proc.stdout.strip().splitlines()[-1].split("=")[-1])
    assert worst <= 1e-5 and proc.stdout.count("sequence ") == 4


def test_quantized_io_roundtrip():
    from lstm_deploy.runtime import TensorInfo, _dequantize, _quantize

    info = TensorInfo("x", (1, 4), "int8", scale=0.1, zero_point=-31)
    x = np.array([[-10.0, 0.0, 1.23, 50.0]], np.float32)
    q = _quantize(x, info)
    assert q.dtype == np.int8 and q.tolist() == [[-128, -31, -19, 127]]  # clipped to int8 range
    np.testing.assert_allclose(_dequantize(q, info), [[-9.7, 0.0, 1.2, 15.8]], atol=1e-5)
    f = TensorInfo("x", (1, 4), "float32")
    assert _quantize(x, f) is x and _dequantize(x, f) is x


def test_stream_step_errors_say_what_a_step_is(tmp_path):
    from lstm_deploy.runtime import Model, RuntimeError_

    _, results, _ = exported("stacked_stream")
    stream = Model.load(results[0].artifact).stream()
    assert stream.step(np.zeros(3, np.float32)).shape == (3,)
    with pytest.raises(RuntimeError_, match=r"step input has shape \(5,\); s?.*takes one time step: \(3\) or \(batch, 3\)$"):
        stream.step(np.zeros(5, np.float32))
    with pytest.raises(RuntimeError_, match=r"shape \(1, 6, 3\); .*use model\.stream_predict\(x\)"):
        stream.step(np.zeros((1, T, 3), np.float32))
    with pytest.raises(RuntimeError_, match="ragged or not numbers"):
        stream.step([[1.0, 2.0, 3.0], [1.0]])


def test_streaming_example_names_a_missing_full_artifact(tmp_path):
    _, stream_results, _ = exported("stacked_stream")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "streaming.py"), str(stream_results[0].artifact), "--full", str(tmp_path / "no.tflite")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "no.tflite" in proc.stderr


def test_runtime_is_quiet_by_default():
    """No LiteRT 'Created TensorFlow Lite XNNPACK delegate' (or any other) line on stderr for an app."""
    _, results, _ = exported("stacked")
    code = ("import numpy as np; from lstm_deploy.runtime import Model\n"
            + "".join(f"Model.load({str(r.artifact)!r}).predict(np.zeros((2, {T}, 3), np.float32))\n" for r in results))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]


def test_manifest_preprocessing_is_applied_to_raw_inputs_by_default(tmp_path):
    """An app passes raw sensor values; the runtime applies the recorded z-score (``preprocess=False``: prepared inputs)."""
    from lstm_deploy.runtime import Model, finish_outputs, prepare_inputs

    model, results, _ = exported("stacked")
    art = next(r.artifact for r in results if r.format == "onnx")
    copy = tmp_path / "m.onnx"
    copy.write_bytes(art.read_bytes())
    mean, std = np.array([10.0, -5.0, 100.0], np.float32), np.array([2.0, 0.5, 30.0], np.float32)
    manifest = json.loads(art.with_name(art.name + ".json").read_text())
    manifest["preprocessing"] = {"normalize": "zscore per channel (training statistics)", "mean": mean.tolist(), "std": std.tolist(),
                                 "padding": "none"}
    (tmp_path / "m.onnx.json").write_text(json.dumps(manifest))
    prepared = np.random.default_rng(8).standard_normal((5, T, 3)).astype(np.float32)
    raw = prepared * std + mean
    expected = np.asarray(model(prepared, training=False))
    assert np.abs(Model.load(copy).predict(raw) - expected).max() <= 1e-5
    assert np.abs(Model.load(copy, preprocess=False).predict(prepared) - expected).max() <= 1e-5
    assert np.abs(Model.load(copy, preprocess=False).predict(raw) - expected).max() > 1e-2  # the mistake the default prevents
    # forecasting windows: scaled by their last value, the prediction back in the raw units
    window = {"normalize": "window", "window": 3, "horizon": 1}
    x = np.array([[[2.0], [4.0], [8.0]]], np.float32)
    assert prepare_inputs(x, window).ravel().tolist() == [-0.75, -0.5, 0.0]
    assert finish_outputs(np.array([[0.5]], np.float32), x, window).tolist() == [[12.0]]
    tokenizer = {"tokenizer": {"words": ["good", "film"], "max_len": 4, "pad_id": 0, "oov_id": 1, "lowercase": True}}
    assert prepare_inputs(["Good film, bad plot"], tokenizer).tolist() == [[2, 3, 1, 1]]


def test_example_app_answers_get_with_json_how_to(tmp_path):
    import socket
    import time
    import urllib.error
    import urllib.request

    art = next(r.artifact for r in exported("stacked")[1] if r.format == "onnx")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "app" / "predict.py"), str(art), "--serve", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/predict", timeout=2)
            except urllib.error.HTTPError as exc:
                assert exc.code == 405 and "POST /predict" in json.loads(exc.read())["error"]
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the app did not answer")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
