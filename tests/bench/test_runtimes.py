"""Runtimes on real tiny artifacts: registry coverage, parity, availability, LSTM state reset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from lstm_deploy.bench import BenchConfig, benchmark, expand_runtimes, get_runtime, runtime_names
from lstm_deploy.bench.registry import RuntimeUnavailable
from lstm_deploy.bench.runtimes.tflite import TFLiteRuntime
from lstm_deploy.errors import InputError

T, F, UNITS, CLASSES = 6, 3, 8, 3

#: Every registered runtime and what this test machine must show for it:
#: "cpu" runtimes must run here and match Keras; "optional" ones (GPU, extras) either run
#: and match Keras, or explain why not. A runtime missing here fails test_every_runtime_has_a_test.
RUNTIME_EXPECTATIONS = {
    "keras-eager": "cpu",
    "keras-function": "cpu",
    "tf-gpu": "optional",
    "tflite": "cpu",
    "litert-gpu": "optional",
    "onnxruntime": "cpu",
    "onnxruntime-cuda": "optional",
    "onnxruntime-tensorrt": "optional",
    "openvino": "optional",
}


def _build_tiny_artifacts(out: Path) -> None:
    """A tiny tf_keras LSTM classifier, its fixed-batch fp32 .tflite (with manifest), a
    dynamic-batch .onnx (no manifest) and a data file whose labels are the model's argmax."""
    from lstm_deploy import _tf

    tf, tfk = _tf.tf(), _tf.tf_keras()
    tfk.utils.set_random_seed(0)
    model = tfk.Sequential([tfk.Input((T, F)), tfk.layers.LSTM(UNITS), tfk.layers.Dense(CLASSES, activation="softmax")])
    lstm = model.layers[0]
    kernel, recurrent, bias = lstm.get_weights()
    lstm.set_weights([kernel * 3, recurrent * 3, bias])  # strong weights: carried-over state changes answers
    keras_path = out / "model.keras"
    model.save(keras_path)
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, T, F], tf.float32))
    art_dir = out / "artifacts"
    art_dir.mkdir()
    tflite_path = art_dir / "model_fp32.tflite"
    tflite_path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([concrete], model).convert())
    # relative source path: the folder is renamed once complete (tests/zoo.py: shared_dir)
    manifest = {"format": "tflite", "quantization": "fp32",
                "source": {"path": "../model.keras", "sha256": hashlib.sha256(keras_path.read_bytes()).hexdigest()}}
    (art_dir / "model_fp32.tflite.json").write_text(json.dumps(manifest))
    import tf2onnx

    tf2onnx.convert.from_function(tf.function(lambda x: model(x, training=False)),
                                  input_signature=[tf.TensorSpec([None, T, F], tf.float32, name="x")],
                                  opset=17, output_path=str(art_dir / "model_fp32.onnx"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, T, F)).astype(np.float32)
    ref = model(x, training=False).numpy()
    np.savez(out / "data.npz", x_train=x[:8], y_train=ref[:8].argmax(1), x_test=x, y_test=ref.argmax(1))
    np.save(out / "reference.npy", ref)


def tiny_artifacts() -> dict:
    """The tiny model and its artifacts, built once per test run (tests/zoo.py: shared_dir); treat as read-only."""
    from lstm_deploy import _tf
    from tests.zoo import shared_dir

    out = shared_dir("bench-tiny", _build_tiny_artifacts)
    art_dir = out / "artifacts"
    model = _tf.tf_keras().models.load_model(out / "model.keras", compile=False)
    return {"model": model, "keras": out / "model.keras", "tflite": art_dir / "model_fp32.tflite", "onnx": art_dir / "model_fp32.onnx",
            "dir": art_dir, "data": out / "data.npz", "x": np.load(out / "data.npz")["x_test"], "ref": np.load(out / "reference.npy")}


@pytest.fixture(scope="module")
def tiny():
    return tiny_artifacts()


def test_every_runtime_has_a_test():
    assert set(runtime_names()) == set(RUNTIME_EXPECTATIONS), "add new runtimes to RUNTIME_EXPECTATIONS"


def _can_run_here(name: str) -> bool | None:
    """Whether this machine can run an optional runtime, found without lstm_deploy (``None``: no independent check)."""
    import importlib.util

    if name == "openvino":
        return importlib.util.find_spec("openvino") is not None
    if name in ("onnxruntime-cuda", "onnxruntime-tensorrt"):
        import onnxruntime as ort

        return get_runtime(name).provider in ort.get_available_providers()
    if name == "tf-gpu":
        from lstm_deploy import _tf

        return bool(_tf.tf().config.list_physical_devices("GPU"))
    return None  # litert-gpu: whether LiteRT's GPU delegate takes the model is only known by trying


@pytest.mark.parametrize("name", sorted(RUNTIME_EXPECTATIONS))
def test_runtime_runs_or_explains(name, tiny):
    """CPU runtimes run and match Keras; an optional one runs (and matches) exactly where an independent check says it can."""
    cls = get_runtime(name)
    ok, reason = cls.available()
    possible = _can_run_here(name) if RUNTIME_EXPECTATIONS[name] == "optional" else True
    if not ok:
        assert RUNTIME_EXPECTATIONS[name] == "optional", f"{name} must run on this machine: {reason}"
        assert possible is not True, f"{name} says it is unavailable ({reason}), but this machine can run it"
        assert len(reason) > 15 and ("install" in reason or "GPU" in reason), reason
        return
    rt = cls()
    try:
        rt.load(str(tiny[cls.formats[0]]), threads=1)
    except RuntimeUnavailable as exc:
        assert RUNTIME_EXPECTATIONS[name] == "optional", f"{name} must run on this machine: {exc}"
        assert possible is not True, f"{name} refused to load ({exc}), but this machine can run it"
        assert str(exc)
        return
    assert possible is not False, f"{name} ran although this machine cannot run it: it must not fall back silently"
    x, ref = tiny["x"], tiny["ref"]
    np.testing.assert_allclose(rt.run(x[:1]), ref[:1], atol=1e-4)
    np.testing.assert_allclose(rt.run(x[:5]), ref[:5], atol=1e-4)  # batch > fixed batch: resize or loop
    assert rt.batching(5) in ("native", "resized", "loop")


def test_litert_gpu_reports_why_it_cannot_run_fused_lstm(tiny):
    """On this CPU-only machine (and for fused-LSTM models anywhere, as of LiteRT 2.3) the GPU route is unavailable."""
    rt = get_runtime("litert-gpu")()
    try:
        rt.load(str(tiny["tflite"]), threads=1)
    except RuntimeUnavailable as exc:
        assert "GPU" in str(exc)
    else:  # a machine where it loads must also compute the right answer
        np.testing.assert_allclose(rt.run(tiny["x"][:1]), tiny["ref"][:1], atol=1e-3)


def test_tflite_without_reset_is_wrong_and_runtime_resets(tiny):
    from ai_edge_litert.interpreter import Interpreter

    x, ref = tiny["x"], tiny["ref"]
    raw = Interpreter(model_path=str(tiny["tflite"]))
    raw.allocate_tensors()
    inp, outp = raw.get_input_details()[0]["index"], raw.get_output_details()[0]["index"]
    no_reset = []
    for seq in x:  # independent sequences back to back, state carried over: the bug
        raw.set_tensor(inp, seq[None])
        raw.invoke()
        no_reset.append(raw.get_tensor(outp)[0].copy())
    no_reset = np.array(no_reset)
    assert np.abs(no_reset - ref).max() > 1e-2
    no_reset_accuracy = float(np.mean(no_reset.argmax(1) == ref.argmax(1)))
    assert no_reset_accuracy < 0.95

    rt = TFLiteRuntime()
    rt.load(str(tiny["tflite"]), threads=1)
    with_reset = np.concatenate([rt.run(seq[None]) for seq in x])
    np.testing.assert_allclose(with_reset, ref, atol=1e-5)
    assert rt.batching(4) == "loop"  # fused LSTM state tensors cannot be resized
    np.testing.assert_allclose(rt.run(x[:4]), ref[:4], atol=1e-5)

    # the benchmark's accuracy path resets too: labels are the Keras argmax, so a reset-free
    # path would score no_reset_accuracy; the benchmark must score 1.0
    messages: list[str] = []
    report = benchmark([tiny["tflite"]], tiny["data"], BenchConfig(runtimes=("tflite",), warmup=1, repeats=5, min_seconds=0.0),
                       progress=messages.append)
    assert messages == ["benchmark 1/2: model_fp32.tflite on tflite (threads 1)",
                        "benchmark 2/2: model.keras on keras-function (reference outputs)"]
    rows = report.ok_rows()
    assert rows and all(r["accuracy"] == 1.0 for r in rows)
    assert rows[0]["accuracy"] > no_reset_accuracy
    assert rows[0]["agreement"] == 1.0 and rows[0]["max_abs_diff"] < 1e-5  # vs the manifest's source model


def test_expand_runtimes_groups_and_unknown():
    assert expand_runtimes("keras") == ["keras-eager", "keras-function"]
    assert expand_runtimes("all") == runtime_names()
    assert expand_runtimes("tflite,litert,tflite") == ["tflite"]
    with pytest.raises(InputError, match="unknown runtime 'tensorflowjs'.*expected one of .*tflite"):
        expand_runtimes("tensorflowjs")


def test_openvino_availability_is_the_package_and_names_the_extra():
    ok, reason = get_runtime("openvino").available()
    assert ok == _can_run_here("openvino")
    assert ok or "lstm-deploy[openvino]" in reason


def test_onnxruntime_gpu_entries_never_time_the_cpu(tiny):
    for name in ("onnxruntime-cuda", "onnxruntime-tensorrt"):
        ok, reason = get_runtime(name).available()
        assert ok == _can_run_here(name), (name, reason)  # available exactly when ONNX Runtime has the provider
        if not ok:
            assert "onnxruntime-gpu" in reason
            continue
        rt = get_runtime(name)()
        try:
            rt.load(str(tiny["onnx"]), threads=1)
        except RuntimeUnavailable:
            continue
        assert rt.session.get_providers()[0] == rt.provider


def test_discover_reads_manifests_and_infers_io(tiny):
    from lstm_deploy.bench.artifacts import discover

    arts = {a.name: a for a in discover([tiny["dir"], tiny["keras"], tiny["tflite"]])}  # the repeat is dropped
    assert sorted(arts) == ["model.keras", "model_fp32.onnx", "model_fp32.tflite"]
    tfl, onnx, keras = arts["model_fp32.tflite"], arts["model_fp32.onnx"], arts["model.keras"]
    assert (tfl.quantization, onnx.quantization, keras.quantization) == ("fp32", "unknown", "fp32")
    assert tfl.source_sha256 == keras.sha256 and onnx.manifest is None
    assert tfl.input_shape == (1, T, F) and onnx.input_shape == (None, T, F) and keras.input_shape is None
    assert 0 < tfl.gzip_bytes < tfl.size_bytes


def test_discover_export_manifest_layout_and_errors(tiny, tmp_path):
    from lstm_deploy.bench.artifacts import discover

    art = tmp_path / "m.fp32.tflite"
    art.write_bytes(tiny["tflite"].read_bytes())
    (tmp_path / "src.keras").write_bytes(tiny["keras"].read_bytes())
    # lstm_deploy.export writes "source_model": {"path", "sha256", ...}; a relative path is tried beside the artifact
    (tmp_path / "m.fp32.tflite.json").write_text(json.dumps({"quantization": "int8", "source_model": {"path": "src.keras", "sha256": "ab"}}))
    (a,) = discover([art])
    assert a.quantization == "int8" and a.source_sha256 == "ab" and a.source_path == str(tmp_path / "src.keras")
    (tmp_path / "m.fp32.tflite.json").write_text("{not json")
    with pytest.raises(InputError, match=r"m.fp32.tflite.json: manifest is not valid JSON"):
        discover([art])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no .keras/.h5/.tflite/.onnx file"):
        discover([tmp_path / "empty"])
    (tmp_path / "broken.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(InputError, match="broken.tflite: not a loadable .tflite file"):
        discover([tmp_path / "broken.tflite"])


def test_multi_input_artifact_is_skipped_not_fatal(tiny, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "h"], ["y"])], "two_inputs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, F]), helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, F])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, F])])
    path = tmp_path / "step.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    report = benchmark([path], tiny["data"], BenchConfig(runtimes=("onnxruntime",)))
    (row,) = report.results
    assert row["status"] == "skipped" and "has 2 inputs" in row["reason"] and row["pareto"] is None


def test_fixed_batch_artifact_loops_with_padding(tiny, tmp_path):
    import tf2onnx

    from lstm_deploy import _tf
    from lstm_deploy.bench.runtimes.onnxruntime import OnnxRuntimeCPU

    tf, model = _tf.tf(), tiny["model"]
    path = tmp_path / "batch2.onnx"
    tf2onnx.convert.from_function(tf.function(lambda x: model(x, training=False)),
                                  input_signature=[tf.TensorSpec([2, T, F], tf.float32, name="x")], opset=17, output_path=str(path))
    rt = OnnxRuntimeCPU()
    rt.load(str(path), threads=1)
    assert rt.fixed_batch == 2 and rt.batching(2) == "native" and rt.batching(5) == "loop"
    x, ref = tiny["x"], tiny["ref"]
    np.testing.assert_allclose(rt.run(x[:5]), ref[:5], atol=1e-5)  # 2 + 2 + (1 padded to 2)
    np.testing.assert_allclose(rt.run(x[:1]), ref[:1], atol=1e-5)


def test_tflite_resizes_batch_when_the_graph_allows(tmp_path):
    """Without fused-LSTM state tensors the batch can be resized; the runtime checks it against the loop."""
    from lstm_deploy import _tf

    tf, tfk = _tf.tf(), _tf.tf_keras()
    tfk.utils.set_random_seed(1)
    model = tfk.Sequential([tfk.Input((T, F)), tfk.layers.Flatten(), tfk.layers.Dense(CLASSES)])
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec([1, T, F], tf.float32))
    path = tmp_path / "dense.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([concrete], model).convert())
    rt = TFLiteRuntime()
    rt.load(str(path), threads=1)
    x = np.random.default_rng(2).normal(size=(7, T, F)).astype(np.float32)
    assert rt.batching(7) == "resized"
    np.testing.assert_allclose(rt.run(x), model(x).numpy(), atol=1e-5)


@pytest.mark.parametrize("kind", ["quant", "masked"])
def test_bench_adapters_produce_exactly_what_apps_run(kind):
    """One runner: each artifact runtime gives byte-for-byte the outputs of lstm_deploy.runtime.Model (quantized and masked included).

    Same thread count on both sides: ONNX Runtime's DynamicQuantizeLSTM gives slightly different
    outputs with 1 and 2 intra-op threads (measured: 2.7e-4 on this classifier).
    """
    from lstm_deploy.runtime import Model
    from tests.zoo import exported, trained_classifier

    model, results, _ = exported(kind)
    if kind == "quant":
        x = np.load(trained_classifier()[1])["x_test"][:16]
    else:
        x = np.random.default_rng(1).standard_normal((16, T, F)).astype(np.float32)
        x[3, 2:] = 0.0
        x[7, 5:] = 0.0
    for r in results:
        rt = get_runtime("tflite" if r.format == "tflite" else "onnxruntime")()
        rt.load(str(r.artifact), threads=1)
        np.testing.assert_array_equal(rt.run(x), Model.load(r.artifact, num_threads=1).predict(x), err_msg=f"{r.format} {r.quantization}")
