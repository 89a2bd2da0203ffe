"""``lstm-deploy quantize`` end to end: Keras 3 file in, Keras 3 file + JSON report out; errors."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.helpers import run_cli as _run
from tests.helpers import write_toy_sequences


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    d = tmp_path_factory.mktemp("qat_cli")
    write_toy_sequences(d / "d.npz")
    inp = keras.Input((6, 3))
    h = keras.layers.LSTM(6, return_sequences=True, name="l1")(inp)
    h = keras.layers.LSTM(5, name="l2")(h)
    keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="head")(h)).save(d / "m.keras")
    inp = keras.Input((6, 3))
    keras.Model(inp, keras.layers.Dense(2)(keras.layers.GRU(4, name="the_gru")(inp))).save(d / "gru.keras")
    return d


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_quantize_cli_writes_keras3_model_and_side_by_side_report(files, capsys):
    import keras

    sha = _sha(files / "m.keras")
    code, out, err = _run(
        ["quantize", str(files / "m.keras"), "--data", str(files / "d.npz"), "--epochs", "1", "--batch-size", "16", "--compare", "all",
         "--report", str(files / "r.json"), "-o", str(files / "q.keras")],
        capsys,
    )
    assert code == 0, err
    assert _sha(files / "m.keras") == sha, "input model file changed"
    assert "post-training" in out and "tflite-int8" in out
    model = keras.models.load_model(files / "q.keras")  # plain Keras 3 loader, plain LSTM layers
    assert [l.__class__.__name__ for l in model.layers[1:]] == ["LSTM", "LSTM", "Dense"]
    report = json.loads((files / "r.json").read_text())
    assert [m["mode"] for m in report["modes"]] == ["tflite-int8", "tflite-dynamic", "onnx-dynamic"]
    for row in report["modes"]:
        assert 0 <= row["ptq_metric"] <= 1 and 0 <= row["qat_metric"] <= 1 and row["qat_bytes"] > 0
        assert row["float_metric"] == report["float_metric"]
    assert report["sparsity_after"] >= report["sparsity_before"]
    assert report["target"] == "tflite-int8" and report["pruned_zeros_kept"]
    assert set(report["activation_ranges"]["l1"]) == {"input", "hidden_state", "cell_state"}
    choice = report["choice"]  # judged on held-out rows, said in the output
    assert choice["mode"] == "tflite-int8" and choice["rows"].startswith("the selection half of x_test") and "handed over the" in " ".join(out.split())
    from lstm_deploy.load.intent import read_intent

    assert read_intent(files / "q.keras") == {"qat_target": "tflite-int8", "export": ["tflite", "int8"]}  # export continues it
    assert out.rstrip().splitlines()[-1].startswith(f"next: lstm-deploy export {files / 'q.keras'} --data")


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--data", "missing.npz"], "missing.npz"),
        (["--data", "{d}/d.npz", "--epochs", "-2"], "--epochs"),
        (["--data", "{d}/d.npz", "--model", "gru"], "layer 'the_gru'"),
    ],
)
def test_quantize_cli_errors_are_one_line_exit_2(files, capsys, extra, needle):
    model = files / "m.keras"
    if "--model" in extra:
        model = files / "gru.keras"
        extra = extra[:-2]
    args = ["quantize", str(model)] + [e.format(d=files) for e in extra] + ["-o", str(files / "never.keras")]
    code, _out, err = _run(args, capsys)
    assert code == 2
    assert needle in err and err.startswith("Error:") and len(err.strip().splitlines()) == 1
    assert not (files / "never.keras").exists()


def test_quantize_cli_compare_target_only(files, capsys):
    code, out, err = _run(
        ["quantize", str(files / "m.keras"), "--data", str(files / "d.npz"), "--epochs", "0", "--target", "onnx-dynamic",
         "--per-channel", "--compare", "target", "--report", str(files / "t.json"), "-o", str(files / "t.keras")],
        capsys,
    )
    assert code == 0, err
    report = json.loads((files / "t.json").read_text())
    assert [m["mode"] for m in report["modes"]] == ["onnx-dynamic"] and report["per_channel"] is True
    assert report["activation_ranges"] == {}  # dynamic targets quantize no activations


def test_quantize_cli_refuses_to_overwrite_input(files, capsys):
    code, _out, err = _run(["quantize", str(files / "m.keras"), "--data", str(files / "d.npz"), "-o", str(files / "m.keras")], capsys)
    assert code == 2 and "overwrite" in err
