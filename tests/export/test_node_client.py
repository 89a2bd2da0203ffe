"""The Node.js client (examples/node, onnxruntime-node) on freshly exported masked models equals Python onnxruntime.

Runs when ``node`` and the client's ``node_modules`` are present (``make test`` installs them with
``npm install --ignore-scripts`` when npm exists) and is skipped, saying why, when they are not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lstm_deploy.export import ExportConfig, export_model
from tests.zoo import T, seeded

CLIENT = Path(__file__).resolve().parents[2] / "examples" / "node"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the Node.js client cannot run here"),
    pytest.mark.skipif(not (CLIENT / "node_modules" / "onnxruntime-node").is_dir(),
                       reason="onnxruntime-node is not installed: run `npm install --ignore-scripts` in examples/node (make test does)"),
]


def _node(model: Path, payload, tmp_path: Path) -> tuple[int, dict | None, str]:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(payload))
    proc = subprocess.run([NODE, str(CLIENT / "predict.js"), str(model), str(inputs)], capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, json.loads(proc.stdout) if proc.returncode == 0 else None, proc.stderr


def _python_onnxruntime(model: Path, feeds: dict) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(["output"], feeds)[0]


def _padded(x: np.ndarray, pad, rng) -> np.ndarray:
    for i in range(len(x)):  # post-, pre-padded and gapped in turn
        length = int(rng.integers(1, T + 1))
        if i % 3 == 0:
            x[i, length:] = pad
        elif i % 3 == 1:
            x[i, :T - length] = pad
        else:
            x[i, rng.random(T) < 0.4] = pad
    return x


@pytest.mark.parametrize("kind", ["masking", "tokens"])
def test_node_client_matches_python_onnxruntime(kind, tmp_path):
    k = seeded("keras3", seed=5)
    L = k.layers
    rng = np.random.default_rng(8)
    if kind == "masking":
        model = k.Sequential([k.Input((T, 3)), L.Masking(0.0), L.LSTM(6, return_sequences=True), L.Bidirectional(L.LSTM(4)),
                              L.Dense(3, activation="softmax")])
        x = _padded(rng.standard_normal((12, T, 3)).astype(np.float32), 0.0, rng)
    else:
        model = k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(20, 5, mask_zero=True), L.Bidirectional(L.LSTM(4, return_sequences=True)),
                              L.LSTM(4), L.Dense(3, activation="softmax")])
        x = _padded(rng.integers(1, 20, size=(12, T)).astype(np.int32), 0, rng)
    (r,) = export_model(model, tmp_path, ExportConfig(formats=("onnx",)), name=kind, labels=["a", "b", "c"])
    code, got, err = _node(r.artifact, {"x": x.tolist()}, tmp_path)
    assert code == 0, err
    expected = _python_onnxruntime(r.artifact, {"x": x})
    assert np.abs(np.array(got["y"]) - expected).max() <= 1e-5
    assert got["labels"] == [["a", "b", "c"][i] for i in expected.argmax(1)]
    assert np.abs(expected - np.asarray(model(x, training=False))).max() <= 1e-5  # and both are Keras' answer
    code, one, err = _node(r.artifact, {"x": x[0].tolist()}, tmp_path)  # one sequence, no batch axis
    assert code == 0 and np.abs(np.array(one["y"]) - expected[0]).max() <= 1e-5 and one["label"] == got["labels"][0]


def test_node_client_feeds_lengths_and_reports_bad_input(tmp_path):
    k = seeded("tf_keras", seed=6)
    model = k.Sequential([k.Input((T, 3)), k.layers.Masking(0.0), k.layers.LSTM(4), k.layers.Dense(2)])
    (r,) = export_model(model, tmp_path, ExportConfig(formats=("onnx",), lengths_input=True), name="explicit")
    x = np.random.default_rng(9).standard_normal((4, T, 3)).astype(np.float32)
    x[1, 2:] = 0.0
    code, got, err = _node(r.artifact, {"x": x.tolist()}, tmp_path)
    assert code == 0, err
    lengths = np.array([T, 2, T, T], np.int32)
    assert np.abs(np.array(got["y"]) - _python_onnxruntime(r.artifact, {"x": x, "lengths": lengths})).max() <= 1e-5
    x[2, :2] = 0.0
    code, _, err = _node(r.artifact, {"x": x.tolist()}, tmp_path)
    assert code == 2 and "sequence 2 has padding before real steps" in err
    code, _, err = _node(r.artifact, {"x": x[0, :3].tolist()}, tmp_path)
    assert code == 2 and "x has shape [3,3] (or ragged rows); expected one sequence [6,3] or a list of them" in err


def test_node_client_applies_the_manifest_preprocessing(tmp_path):
    """Raw values in, like lstm_deploy.runtime: z-score per channel, or center/scale with outputs mapped back."""
    from tests.zoo import exported

    model, results, _ = exported("stacked")
    art = next(r.artifact for r in results if r.format == "onnx")
    mean, std = np.array([10.0, -5.0, 100.0]), np.array([2.0, 0.5, 30.0])
    prepared = np.random.default_rng(9).standard_normal((4, T, 3)).astype(np.float32)
    expected = np.asarray(model(prepared, training=False))
    for i, pre in enumerate([{"normalize": "zscore per channel", "mean": mean.tolist(), "std": std.tolist(), "padding": "none"},
                             {"normalize": "zscore", "center": 3.0, "scale": 2.0}]):
        copy = tmp_path / f"m{i}.onnx"
        copy.write_bytes(art.read_bytes())
        manifest = json.loads(art.with_name(art.name + ".json").read_text())
        (tmp_path / f"m{i}.onnx.json").write_text(json.dumps({**manifest, "preprocessing": pre}))
        raw = prepared * std + mean if i == 0 else prepared * 2.0 + 3.0
        want = expected if i == 0 else expected * 2.0 + 3.0  # forecasting outputs come back in the series' units
        code, got, err = _node(copy, {"x": raw.tolist()}, tmp_path)
        assert code == 0 and np.abs(np.array(got["y"]) - want).max() <= 1e-4, err
    (tmp_path / "prepared.json").write_text(json.dumps({"x": prepared.tolist()}))  # --prepared: inputs used as they are
    proc = subprocess.run([NODE, str(CLIENT / "predict.js"), str(tmp_path / "m0.onnx"), str(tmp_path / "prepared.json"), "--prepared"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and np.abs(np.array(json.loads(proc.stdout)["y"]) - expected).max() <= 1e-4, proc.stderr


def test_node_client_follows_the_runtimes_manifest_rules(tmp_path):
    """Same rules as lstm_deploy_runtime: SHA-256 checked (--no-verify opts out), named tokenizer patterns only, newer formats refused."""
    from tests.zoo import exported

    _, results, _ = exported("stacked")
    art = next(r.artifact for r in results if r.format == "onnx")
    manifest = json.loads(art.with_name(art.name + ".json").read_text())
    _, masked_results, _ = exported("masked")
    other = next(r.artifact for r in masked_results if r.format == "onnx")
    x = np.zeros((1, T, 3)).tolist()

    def write(name: str, data: bytes, m: dict) -> Path:
        (tmp_path / name).write_bytes(data)
        (tmp_path / f"{name}.json").write_text(json.dumps(m))
        return tmp_path / name

    swapped = write("swapped.onnx", other.read_bytes(), manifest)
    code, _, err = _node(swapped, {"x": x}, tmp_path)
    assert code == 2 and "swapped.onnx has SHA-256" in err and "--no-verify" in err
    (tmp_path / "x.json").write_text(json.dumps({"x": x}))
    proc = subprocess.run([NODE, str(CLIENT / "predict.js"), str(swapped), str(tmp_path / "x.json"), "--no-verify"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    evil = write("evil.onnx", art.read_bytes(), {**manifest, "preprocessing": {"tokenizer": {"words": ["a"], "max_len": T, "token_pattern": "(a+)+$"}}})
    code, _, err = _node(evil, {"x": "a" * 40 + "!"}, tmp_path)
    assert code == 2 and "token_pattern \"(a+)+$\" is not one of the named patterns" in err
    newer = write("newer.onnx", art.read_bytes(), {**manifest, "format_version": 99})
    code, _, err = _node(newer, {"x": x}, tmp_path)
    assert code == 2 and "has format_version 99" in err
    for bad, needle in [({"labels": {"a": 1}}, "labels must be a list"), ({"input_name": "../etc"}, "input_name is \"../etc\""),
                        ({"preprocessing": {"center": None, "scale": 2}}, "preprocessing.center must be a finite number")]:
        code, _, err = _node(write("bad.onnx", art.read_bytes(), {**manifest, **bad}), {"x": x}, tmp_path)
        assert code == 2 and needle in err, err
