"""The README's app guide runs: its Python lines, the Android call sequence through LiteRT's Python API, ONNX Runtime Mobile."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.zoo import T, seeded

README = Path(__file__).resolve().parents[1] / "README.md"
LABELS = ["a", "b", "c"]


def guide_block(marker: str) -> str:
    """The fenced code block right after ``<!-- app-guide:MARKER -->`` in the README."""
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- app-guide:{marker} -->\s*```\w*\n(.*?)```", text, re.S)
    assert found, f"README has no app-guide:{marker} block"
    return found.group(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from lstm_deploy.export import ExportConfig, export_model

    k = seeded("keras3", seed=7)
    L = k.layers
    model = k.Sequential([k.Input((T, 3)), L.Masking(0.0), L.LSTM(5), L.Dense(3, activation="softmax")])
    out = tmp_path_factory.mktemp("guide")
    results = export_model(model, out, ExportConfig(formats=("tflite", "onnx")), name="model", labels=LABELS)
    x = np.random.default_rng(3).standard_normal((7, T, 3)).astype(np.float32)
    x[2, 4:] = 0.0
    x[5, :3] = 0.0
    return model, {r.format: r.artifact for r in results}, x


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_readme_python_lines_run(exported, fmt):
    model, artifacts, x = exported
    scope = {"ARTIFACT": str(artifacts[fmt]), "x": x}
    exec(guide_block("python"), scope)  # the README's lines, as written
    expected = np.asarray(model(x, training=False))
    assert np.abs(scope["probs"] - expected).max() <= 1e-5
    assert scope["labels"] == [LABELS[i] for i in expected.argmax(1)]


def test_android_call_sequence_through_litert_python(exported):
    """resetVariableTensors() + runSignature({"x"}, {"output"}) per sequence, as in the Kotlin lines, via LiteRT's Python API."""
    from ai_edge_litert.interpreter import Interpreter

    model, artifacts, x = exported
    interpreter = Interpreter(model_path=str(artifacts["tflite"]))
    interpreter.allocate_tensors()
    run_signature = interpreter.get_signature_runner()
    ys = []
    for seq in x:
        interpreter.reset_all_variables()
        ys.append(run_signature(x=seq[None])["output"][0])
    assert np.abs(np.stack(ys) - np.asarray(model(x, training=False))).max() <= 1e-5


def test_ort_mobile_conversion_runs_and_matches(exported, tmp_path):
    import onnxruntime as ort

    _, artifacts, x = exported
    onnx_path = tmp_path / "model.fp32.onnx"
    onnx_path.write_bytes(artifacts["onnx"].read_bytes())
    command = guide_block("ort-mobile").split("#")[0].split()
    assert command[:3] == ["python", "-m", "onnxruntime.tools.convert_onnx_models_to_ort"]
    proc = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "model.fp32.required_operators.config").exists()
    mobile = ort.InferenceSession(str(tmp_path / "model.fp32.ort"), providers=["CPUExecutionProvider"])
    desktop = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got, want = mobile.run(["output"], {"x": x})[0], desktop.run(["output"], {"x": x})[0]
    assert np.abs(got - want).max() <= 1e-6
