"""``lstm-deploy prune`` end to end: Keras 3 file in, Keras 3 file + JSON report out; errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from tests.helpers import run_cli as _run
from tests.helpers import write_toy_sequences


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    d = tmp_path_factory.mktemp("prune_cli")
    write_toy_sequences(d / "d.npz")
    inp = keras.Input((6, 3))
    h = keras.layers.LSTM(8, return_sequences=True, name="l1")(inp)
    h = keras.layers.LSTM(8, name="l2")(h)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="head")(h))
    model.save(d / "m.keras")
    flat = keras.Sequential([keras.Input((6, 3)), keras.layers.GlobalAveragePooling1D()])
    flat.save(d / "flat.keras")
    return d


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_units_cli_writes_keras3_model_and_report(files, capsys):
    import keras

    sha = _sha(files / "m.keras")
    code, out, err = _run(
        [
            "prune", str(files / "m.keras"), "--data", str(files / "d.npz"), "--sparsity", "0.5", "--method", "units",
            "--per-layer", "--epochs", "1", "--batch-size", "16", "--report", str(files / "u.json"), "-o", str(files / "u.keras"),
        ],
        capsys,
    )
    assert code == 0, err
    assert "ONNX Runtime batch-1" in out and "l1" in out
    assert out.rstrip().splitlines()[-1].startswith(f"next: lstm-deploy quantize {files / 'u.keras'} --data")
    model = keras.models.load_model(files / "u.keras")  # plain Keras 3 loader
    assert model.get_layer("l1").units == 4 and model.get_layer("l2").units == 4
    report = json.loads((files / "u.json").read_text())
    assert report["flavour"] == "keras3" and report["method"] == "units"
    assert report["latency_before"]["p50_ms"] > 0 and report["latency_after"]["p50_ms"] > 0
    assert report["size_after"]["raw_bytes"] < report["size_before"]["raw_bytes"]
    assert {r["layer"]: r["units_after"] for r in report["layers"] if "units_after" in r} == {"l1": 4, "l2": 4}
    assert _sha(files / "m.keras") == sha  # input never modified


def test_magnitude_cli_with_search(files, capsys):
    import keras

    code, out, err = _run(
        [
            "prune", str(files / "m.keras"), "--data", str(files / "d.npz"), "--sparsity", "0.9", "--epochs", "2",
            "--batch-size", "16", "--max-metric-drop", "1.0", "--layers", "l1,head",
            "--report", str(files / "m.json"), "-o", str(files / "p.keras"),
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads((files / "m.json").read_text())
    assert report["search"][0]["sparsity"] == 0.9 and report["search"][0]["ok"]  # a budget of the whole accuracy range always passes
    assert report["target_sparsity"] == 0.9
    assert set(report["weight_sparsity"]) == {"l1/kernel", "l1/recurrent_kernel", "head/kernel"}
    assert report["size_after"]["gzip_bytes"] < report["size_before"]["gzip_bytes"]
    model = keras.models.load_model(files / "p.keras")
    assert np.mean(np.asarray(model.get_layer("l1").cell.kernel) == 0) >= 0.9 - 1 / 24
    assert np.count_nonzero(np.asarray(model.get_layer("l2").cell.kernel) == 0) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sparsity", "1.5"], "--sparsity: Input should be less than 1 (got 1.5)"),
        (["--sparsity", "0.5", "--max-metric-drop", "-1"], "--max-metric-drop"),
        (["--sparsity", "0.5", "--layers", "nope"], "no layer named 'nope'"),
        (["--sparsity", "0.5", "--method", "units", "--layers", "head"], "cannot remove units of layer 'head'"),
    ],
)
def test_cli_input_errors(files, capsys, extra, message):
    code, _, err = _run(["prune", str(files / "m.keras"), "--data", str(files / "d.npz"), *extra, "-o", str(files / "x.keras")], capsys)
    assert code == 2
    assert message in err and err.startswith("Error: ")
    assert not (files / "x.keras").exists()


def test_cli_model_without_prunable_layers(files, capsys):
    code, _, err = _run(
        ["prune", str(files / "flat.keras"), "--data", str(files / "d.npz"), "--sparsity", "0.5", "-o", str(files / "y.keras")], capsys
    )
    assert code == 2 and "no layer that magnitude pruning can prune" in err
    assert not (files / "y.keras").exists()


def test_cli_refuses_to_overwrite_input(files, capsys):
    code, _, err = _run(["prune", str(files / "m.keras"), "--data", str(files / "d.npz"), "--sparsity", "0.5", "-o", str(files / "m.keras")], capsys)
    assert code == 2 and "would overwrite the input model" in err


def test_prune_cli_progress_is_detailed_under_v_and_silent_under_quiet(files, capsys):
    base = ["prune", str(files / "m.keras"), "--data", str(files / "d.npz"), "--sparsity", "0.5", "--steps", "4", "--batch-size", "16"]
    code, out, err = _run(["-v", *base, "--report", str(files / "v.json"), "-o", str(files / "v.keras")], capsys)
    assert code == 0, err
    assert "step 4: val accuracy" in err and "kept step" in out
    report = json.loads((files / "v.json").read_text())
    assert [p["step"] for p in report["finetune"]["curve"]] == [1, 2, 3, 4] and report["finetune"]["budget"]["steps"] == 4
    code, out, err = _run([*base, "--quiet", "-o", str(files / "q.keras")], capsys)
    assert code == 0 and "step" not in err and "wrote" in out
