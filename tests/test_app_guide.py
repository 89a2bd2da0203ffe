"""The app guide runs: the Python lines of the README and of docs/apps.md, the Android call sequence through LiteRT's Python API, ONNX Runtime Mobile.

Fast tier: one tiny masked LSTM, exported with and without class names.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.zoo import T, seeded

ROOT = Path(__file__).resolve().parents[1]
README, APPS = ROOT / "README.md", ROOT / "docs" / "apps.md"
LABELS = ["a", "b", "c"]


def guide_block(marker: str, page: Path = APPS) -> str:
    """The fenced code block right after ``<!-- app-guide:MARKER -->`` in a page."""
    text = page.read_text(encoding="utf-8")
    found = re.search(rf"<!-- app-guide:{marker} -->\s*```\w*\n(.*?)```", text, re.S)
    assert found, f"{page.name} has no app-guide:{marker} block"
    return found.group(1)


def run_python_guide(page: Path, artifact: Path, x: np.ndarray, folder: Path, monkeypatch) -> dict:
    """Run a page's Python lines as written, in a folder holding the artifact where they name it and data.npz."""
    code = guide_block("python", page)
    named = re.search(r'^ARTIFACT = "([^"]+)"', code, re.M)
    assert named, f"{page.name}'s Python lines no longer set ARTIFACT = \"...\""
    # Same folder, the test's file name: a .tflite stays a .tflite (the lines say "or a .tflite").
    target = folder / Path(named.group(1)).parent / artifact.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(artifact.read_bytes())
    Path(f"{target}.json").write_bytes(Path(f"{artifact}.json").read_bytes())
    np.savez(folder / "data.npz", x_test=x)
    code = code.replace(named.group(0), f'ARTIFACT = "{target.relative_to(folder).as_posix()}"')
    monkeypatch.chdir(folder)
    scope: dict = {}
    exec(code, scope)  # the page's lines, as written but for the artifact's file name
    return scope


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from lstm_deploy.export import ExportConfig, export_model

    k = seeded("keras3", seed=7)
    L = k.layers
    model = k.Sequential([k.Input((T, 3)), L.Masking(0.0), L.LSTM(5), L.Dense(3, activation="softmax")])
    out = tmp_path_factory.mktemp("guide")
    results = export_model(model, out, ExportConfig(formats=("tflite", "onnx")), name="model", labels=LABELS)
    plain = export_model(model, out / "plain", ExportConfig(formats=("onnx",)), name="model")  # a default export: no labels
    x = np.random.default_rng(3).standard_normal((7, T, 3)).astype(np.float32)
    x[2, 4:] = 0.0
    x[5, :3] = 0.0
    artifacts = {r.format: r.artifact for r in results}
    artifacts["onnx-no-labels"] = plain[0].artifact
    return model, artifacts, x


@pytest.mark.parametrize("page", [README, APPS], ids=["README", "docs-apps"])
@pytest.mark.parametrize("fmt", ["tflite", "onnx", "onnx-no-labels"])
def test_python_lines_run(exported, fmt, page, tmp_path, monkeypatch):
    model, artifacts, x = exported
    scope = run_python_guide(page, artifacts[fmt], x, tmp_path, monkeypatch)
    expected = np.asarray(model(x, training=False))
    assert np.abs(scope["probs"] - expected).max() <= 1e-5
    classes = expected.argmax(1)
    assert scope["labels"] == ([int(i) for i in classes] if fmt == "onnx-no-labels" else [LABELS[i] for i in classes])


def test_readme_and_apps_page_show_the_same_python_lines():
    assert guide_block("python", README) == guide_block("python", APPS)


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
