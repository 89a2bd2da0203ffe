"""``lstm-deploy export``: options, output table, exit codes and messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.zoo import T, seeded, trained_classifier


from tests.helpers import run_cli as _run


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    from lstm_deploy.load.modelio import save_model

    model, data = trained_classifier()
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "clf.keras"
    save_model(model, path)
    with np.load(data) as npz:  # the same data plus class names, which end up in the manifest
        np.savez(folder / "data.npz", **{k: npz[k] for k in npz.files}, label_names=np.array(["left", "mid", "right"]))
    return path, folder / "data.npz"


def test_export_several_modes_in_one_call(classifier_file, tmp_path, capsys):
    path, data = classifier_file
    code, out, err = _run(["export", str(path), "--tflite", "--quantize", "fp32,dynamic", "--quantize", "int8",
                           "--data", str(data), "--calibration-samples", "20", "-o", str(tmp_path)], capsys)
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != ".lstm-deploy-files.json")  # the ledger of what lstm-deploy wrote
    assert names == ["clf.dynamic.tflite", "clf.dynamic.tflite.json", "clf.fp32.tflite", "clf.fp32.tflite.json",
                     "clf.int8.tflite", "clf.int8.tflite.json"]
    for name in ("clf.fp32.tflite", "clf.dynamic.tflite", "clf.int8.tflite"):
        assert name in out
    assert "FAIL" not in out and "accuracy" in out
    manifest = json.loads((tmp_path / "clf.int8.tflite.json").read_text())
    assert manifest["source_model"]["sha256"] and manifest["source_model"]["file"] == "clf.keras"
    assert str(tmp_path) not in json.dumps(manifest) and str(path.parent) not in json.dumps(manifest)  # portable: no local paths
    assert manifest["labels"] == ["left", "mid", "right"]


def test_keras3_regression_with_dynamic_length_uses_data_shape(tmp_path, capsys):
    k = seeded("keras3")
    model = k.Sequential([k.Input((None, 3)), k.layers.LSTM(4), k.layers.Dense(1)])
    path = tmp_path / "reg.keras"
    model.save(path)
    rng = np.random.default_rng(0)
    data = tmp_path / "reg.npz"
    np.savez(data, x_train=rng.normal(size=(8, T, 3)).astype(np.float32), y_train=rng.normal(size=(8, 1)).astype(np.float32),
             x_test=rng.normal(size=(6, T, 3)).astype(np.float32), y_test=rng.normal(size=(6, 1)).astype(np.float32))
    code, _out, err = _run(["export", str(path), "--onnx", "--data", str(data), "-o", str(tmp_path / "out")], capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "reg.fp32.onnx.json").read_text())
    assert manifest["parity"]["task"] == "regression" and manifest["parity"]["metric"] == "rmse"
    assert manifest["inputs"][0]["shape"] == [None, T, 3] and manifest["source_model"]["flavour"] == "keras3"


def test_bad_quantize_exits_2_with_message(classifier_file, tmp_path, capsys):
    path, _ = classifier_file
    code, _, err = _run(["export", str(path), "--quantize", "int4", "-o", str(tmp_path)], capsys)
    assert code == 2
    assert "Error: --quantize: Input should be 'fp32', 'float16', 'dynamic' or 'int8' (got 'int4')" in err
    code, _, err = _run(["export", str(path), "--onnx", "--quantize", "int8", "-o", str(tmp_path)], capsys)
    assert code == 2 and "--quantize int8: not available for onnx (supported: onnx: fp32, dynamic)" in err
    assert not any(tmp_path.iterdir())


def test_parity_failure_exits_1_and_writes_nothing(classifier_file, tmp_path, capsys):
    from lstm_deploy.load.dataset import load_data

    path, data = classifier_file
    ds = load_data(data)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=ds.x_train * 0.01, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)
    out_dir = tmp_path / "out"
    code, _, err = _run(["export", str(path), "--tflite", "--quantize", "int8", "--data", str(bad), "--calibration-samples", "20",
                         "-o", str(out_dir)], capsys)
    assert code == 1
    assert "Error: parity failed: tflite int8: accuracy 100.00 % -> " in err and "no artifact was written" in err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_missing_model_file_exits_2(tmp_path, capsys):
    code, _, err = _run(["export", str(tmp_path / "nope.keras"), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "nope.keras" in err


def test_class_names_from_labels_flag_or_array(classifier_file, tmp_path, capsys):
    path, data = classifier_file
    with np.load(data) as npz:  # a 'labels' array instead of 'label_names'
        np.savez(tmp_path / "d.npz", **{k: npz[k] for k in npz.files if k != "label_names"}, labels=np.array(["a", "b", "c"]))
    code, _, err = _run(["export", path, "--onnx", "--data", tmp_path / "d.npz", "-o", tmp_path / "o1"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "o1" / "clf.fp32.onnx.json").read_text())["labels"] == ["a", "b", "c"]
    code, _, err = _run(["export", path, "--onnx", "--labels", "x, y, z", "-o", tmp_path / "o2"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "o2" / "clf.fp32.onnx.json").read_text())["labels"] == ["x", "y", "z"]
    code, _, err = _run(["export", path, "--onnx", "--labels", "x,y", "-o", tmp_path / "o3"], capsys)
    assert code == 2 and "labels: 2 class names (x, y) for a model with 3 outputs" in err and not (tmp_path / "o3").exists()
