"""Benchmarking captioners: every input's x_test__<name> array is fed by name, on Keras, LiteRT and ONNX Runtime alike."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.load import flavours as bridge

from tests.zoo import CAP_IMAGE, CAP_LEN, CAP_VOCAB, CAPTION_ZOO, keras_module


def _arrays(model, n: int = 24) -> dict[str, np.ndarray]:
    """x_train/x_test per input; y_test half the model's own answers, half random (accuracy between 0 and 1)."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, CAP_VOCAB, (n, CAP_LEN)).astype(np.int32)
    tokens[:, 3:] = 0  # post-padded prefixes
    image = rng.standard_normal((n, *CAP_IMAGE)).astype(np.float32)
    own = bridge.predict(model, {"image": image, "tokens": tokens}).argmax(-1)
    y = np.where(np.arange(n) < n // 2, own, rng.integers(0, CAP_VOCAB, n))
    return {"x_train__image": image, "x_train__tokens": tokens, "y_train": y, "x_test__image": image, "x_test__tokens": tokens, "y_test": y}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A saved merge captioner, its fp32 .tflite/.onnx artifacts and its x_test__image/x_test__tokens data."""
    from lstm_deploy.export import ExportConfig, export_model

    tmp = tmp_path_factory.mktemp("cap_bench")
    model = CAPTION_ZOO["merge_captioner"](keras_module("keras3"))
    model.save(tmp / "cap.keras")
    arrays = _arrays(model)
    np.savez(tmp / "data.npz", **arrays)
    results = export_model(tmp / "cap.keras", tmp / "out", ExportConfig(formats=("tflite", "onnx"), quantize=("fp32",)), data=tmp / "data.npz")
    assert all(r.passed for r in results)
    accuracy = float(np.mean(bridge.predict(model, {"image": arrays["x_test__image"], "tokens": arrays["x_test__tokens"]}).argmax(-1)
                             == arrays["y_test"]))
    return tmp, [r.artifact for r in results], arrays, accuracy


def test_captioner_benchmark_runs_every_runtime_with_the_keras_accuracy(exported):
    from lstm_deploy.bench import BenchConfig, benchmark

    tmp, artifacts, _, accuracy = exported
    config = BenchConfig(runtimes=("keras", "tflite", "onnxruntime"), batch_sizes=(1, 3), threads=(1,), warmup=1, repeats=3,
                         min_seconds=0.0, max_seconds=0.5)
    report = benchmark([*artifacts, tmp / "cap.keras"], tmp / "data.npz", config)
    rows = report.results
    assert {(r["artifact"], r["runtime"]) for r in rows} == {
        ("cap.keras", "keras-eager"), ("cap.keras", "keras-function"), ("cap.fp32.tflite", "tflite"), ("cap.fp32.onnx", "onnxruntime")}
    assert all(r["status"] == "ok" for r in rows), [(r["artifact"], r["runtime"], r.get("reason")) for r in rows]
    assert len(rows) == 8 and {r["batch_size"] for r in rows} == {1, 3}
    assert 0 < accuracy < 1 and all(r["accuracy"] == pytest.approx(accuracy) and r["eval_samples"] == 24 for r in rows)
    for r in rows:
        if r["runtime"] != "keras-function":  # the reference itself has no agreement column
            assert r["agreement"] == 1.0 and r["max_abs_diff"] <= 1e-5 and r["reference"].startswith("cap.keras"), r
    assert report.settings["eval_samples"] == 24
    assert all(a["n_inputs"] == 2 for a in report.artifacts if a["format"] != "keras")


def test_timing_rows_are_the_same_samples_of_every_input(exported, tmp_path):
    """x_time/x_eval reach the worker as x_time__<input> members, one row index for all inputs."""
    from lstm_deploy.bench.worker import read_inputs, write_inputs
    from lstm_deploy.load.dataset import take

    _, _, arrays, _ = exported
    x = {"image": arrays["x_test__image"], "tokens": arrays["x_test__tokens"]}
    index = np.array([5, 1, 5])
    write_inputs(tmp_path / "in.npz", take(x, index), take(x, slice(None, 4)))
    x_time, x_eval = read_inputs(tmp_path / "in.npz")
    assert sorted(x_time) == sorted(x_eval) == ["image", "tokens"]
    assert np.array_equal(x_time["image"], x["image"][index]) and np.array_equal(x_time["tokens"], x["tokens"][index])
    assert np.array_equal(x_eval["tokens"], x["tokens"][:4])


def test_image_of_the_wrong_shape_names_the_input_and_the_artifact(exported, tmp_path):
    from lstm_deploy.bench import BenchConfig, benchmark
    from lstm_deploy.errors import DataError

    tmp, artifacts, arrays, _ = exported
    onnx = next(a for a in artifacts if str(a).endswith(".onnx"))
    bad = {**arrays, **{k: v[:, :4] for k, v in arrays.items() if k.endswith("__image")}}
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(DataError, match=r"x_test__image has sample shape \(4, 8, 3\); artifact .*cap\.fp32\.onnx input 'image' expects \(8, 8, 3\)"):
        benchmark([onnx], tmp_path / "bad.npz", BenchConfig(runtimes=("onnxruntime",)))


def test_data_with_other_inputs_or_one_array_is_refused_by_name(exported, tmp_path):
    from lstm_deploy.bench import BenchConfig, benchmark
    from lstm_deploy.errors import DataError

    tmp, artifacts, arrays, _ = exported
    onnx = next(a for a in artifacts if str(a).endswith(".onnx"))
    renamed = {k.replace("__tokens", "__words"): v for k, v in arrays.items()}
    np.savez(tmp_path / "renamed.npz", **renamed)
    with pytest.raises(DataError, match=r"holds x_test__image, x_test__words; artifact .* takes inputs image, tokens"):
        benchmark([onnx], tmp_path / "renamed.npz", BenchConfig(runtimes=("onnxruntime",)))
    plain = {"x_train": arrays["x_train__image"], "y_train": arrays["y_train"], "x_test": arrays["x_test__image"], "y_test": arrays["y_test"]}
    np.savez(tmp_path / "plain.npz", **plain)
    with pytest.raises(DataError, match=r"holds one x_test array; artifact .* takes inputs image, tokens: save x_test__image, x_test__tokens"):
        benchmark([onnx], tmp_path / "plain.npz", BenchConfig(runtimes=("onnxruntime",)))


def test_a_test_only_file_with_per_input_arrays_is_enough(exported):
    """benchmark trains nothing: x_test__<input> / y_test alone are accepted, as x_test / y_test are for one input."""
    from lstm_deploy.bench import BenchConfig, benchmark

    tmp, artifacts, arrays, accuracy = exported
    np.savez(tmp / "test_only.npz", **{k: v for k, v in arrays.items() if k.startswith(("x_test", "y_test"))})
    report = benchmark([artifacts[0]], tmp / "test_only.npz", BenchConfig(runtimes=("tflite",), batch_sizes=(1,), threads=(1,),
                                                                          warmup=1, repeats=3, min_seconds=0.0, max_seconds=0.5))
    assert [r["status"] for r in report.results] == ["ok"] and report.results[0]["accuracy"] == pytest.approx(accuracy)
