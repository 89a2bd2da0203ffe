"""The runtime distribution alone: its wheel in a fresh virtualenv (no TensorFlow, Keras or lstm_deploy) answers like the full package.

Slow tier (``make test-slow``; CI runs it): builds ``runtime/`` into a wheel, installs it with its
``[litert,onnx]`` extras into a new virtualenv from the pip cache / registry, and runs real artifacts
of every kind -- single input (fp32, dynamic, int8), masked (in-graph and ``lengths`` input),
streaming (TFLite and ONNX), several inputs, a captioner (encoder + decoder, greedy and beam),
a tokenizer manifest (texts in) and a z-score manifest -- to the outputs ``lstm_deploy.runtime``
gives in this process. Prints the venv's install size (docs/runtime.md quotes it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.zoo import CAP_IMAGE, CAPTION_ZOO, T, keras_module, masked, seeded, separable_data

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

_RUN = r"""
import json, sys
import numpy as np
import lstm_deploy_runtime as rt
from lstm_deploy_runtime import Model, generate

spec = json.loads(open(sys.argv[1]).read())
out = {}
for name, case in spec.items():
    x = dict(np.load(case["x"])) if case.get("x") else None
    if case["call"] == "predict":
        out[name] = Model.load(case["artifact"]).predict(x["x"])
    elif case["call"] == "texts":
        out[name] = Model.load(case["artifact"]).predict(case["texts"])
    elif case["call"] == "inputs":
        out[name] = Model.load(case["artifact"]).predict(x)
    elif case["call"] == "stream":
        out[name] = Model.load(case["artifact"]).stream_predict(x["x"])
    elif case["call"] == "generate":
        enc, dec = Model.load(case["encoder"]), Model.load(case["artifact"])
        out[name] = np.array([(lambda t: t + [-1] * (9 - len(t)))(generate(enc, dec, img, beam=b)) for img in x["x"] for b in (1, 3)])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tf2onnx", "lstm_deploy", "onnx"))
assert not heavy, heavy
for pkg in ("tensorflow", "keras", "tf_keras", "lstm_deploy"):
    try:
        __import__(pkg)
    except ImportError:
        continue
    raise SystemExit(f"{pkg} is importable in the runtime-only venv")
np.savez(sys.argv[2], **out)
print(rt.__version__, rt.__file__)
"""


def _artifacts(out: Path) -> tuple[dict, dict]:
    """Export one artifact of each kind with the full package; the spec for the venv and the full package's answers."""
    from lstm_deploy.export import ExportConfig, export_model
    from lstm_deploy.export.captioner import export_captioner
    from lstm_deploy.load.sources import Vocabulary
    from lstm_deploy.runtime import Model, generate

    rng = np.random.default_rng(0)
    spec: dict = {}
    k = seeded("tf_keras", seed=3)
    L = k.layers
    single = k.Sequential([k.Input((T, 3)), L.LSTM(5, return_sequences=True), L.LSTM(4), L.Dense(3, activation="softmax")])
    data = out / "data.npz"
    np.savez(data, **separable_data())
    x = rng.standard_normal((7, T, 3)).astype(np.float32)
    np.savez(out / "x.npz", x=x)
    written = [r for r in export_model(single, out, ExportConfig(formats=("tflite", "onnx"), quantize=("fp32", "dynamic")), name="single")
               if r.artifact is not None]  # a tiny model's dynamic TFLite keeps every weight in float: noted, not written
    assert {(r.format, r.quantization) for r in written} >= {("tflite", "fp32"), ("onnx", "fp32"), ("onnx", "dynamic")}
    for r in written:
        spec[f"single.{r.quantization}.{r.format}"] = {"call": "predict", "artifact": str(r.artifact), "x": str(out / "x.npz")}
    for r in export_model(single, out, ExportConfig(formats=("tflite",), quantize=("int8",), max_metric_drop=1.0), data=data, name="single"):  # runtime parity, not int8 accuracy
        spec[f"single.int8.{r.format}"] = {"call": "predict", "artifact": str(r.artifact), "x": str(out / "x.npz")}
    xm = x.copy()
    xm[1, 3:], xm[4, 1:] = 0.0, 0.0  # post-padded rows
    np.savez(out / "xm.npz", x=xm)
    for lengths in (False, True):
        for r in export_model(masked(k), out, ExportConfig(formats=("tflite", "onnx"), lengths_input=lengths), name=f"masked{int(lengths)}"):
            spec[f"masked{int(lengths)}.{r.format}"] = {"call": "predict", "artifact": str(r.artifact), "x": str(out / "xm.npz")}
    for r in export_model(single, out, ExportConfig(formats=("tflite", "onnx"), streaming=True), name="stream"):
        spec[f"stream.{r.format}"] = {"call": "stream", "artifact": str(r.artifact), "x": str(out / "x.npz")}
    zscore = next(Path(s["artifact"]) for n, s in spec.items() if n == "single.fp32.onnx")
    copy = out / "zscore.onnx"
    copy.write_bytes(zscore.read_bytes())
    manifest = json.loads(Path(str(zscore) + ".json").read_text())
    Path(str(copy) + ".json").write_text(json.dumps({**manifest, "preprocessing": {"normalize": "zscore", "center": 3.0, "scale": 2.0}}))
    spec["zscore.onnx"] = {"call": "predict", "artifact": str(copy), "x": str(out / "x.npz")}
    vocab = Vocabulary(tuple(f"w{i}" for i in range(10)), T)
    emb = k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(12, 4, mask_zero=True), L.LSTM(4), L.Dense(2, activation="softmax")])
    for r in export_model(emb, out, ExportConfig(formats=("tflite", "onnx")), name="texts", preprocessing={"tokenizer": vocab.to_dict()}):
        spec[f"texts.{r.format}"] = {"call": "texts", "artifact": str(r.artifact), "texts": ["w1 w2 w3", "W9 unknown w0", "", "w4 " * 9]}
    k3 = keras_module("keras3")
    merge = CAPTION_ZOO["merge_captioner"](k3)
    images = rng.standard_normal((4, *CAP_IMAGE)).astype(np.float32)
    tokens = np.array([[1, 3, 0, 0, 0], [1, 5, 7, 2, 0], [1, 0, 0, 0, 0], [1, 11, 4, 9, 2]], np.int32)[:, : merge.inputs[1].shape[1]]
    np.savez(out / "multi.npz", image=images, tokens=tokens)
    for r in export_model(merge, out, ExportConfig(formats=("tflite", "onnx")), name="multi"):
        spec[f"multi.{r.format}"] = {"call": "inputs", "artifact": str(r.artifact), "x": str(out / "multi.npz")}
    np.savez(out / "images.npz", x=images)
    for a in export_captioner(CAPTION_ZOO["inject_captioner"](keras_module("tf_keras")), out, start=1, end=2, formats=("tflite", "onnx")):
        spec[f"captioner.{Path(a.decoder).suffix[1:]}"] = {"call": "generate", "artifact": str(a.decoder), "encoder": str(a.encoder),
                                                           "x": str(out / "images.npz")}
    full = {}
    for name, case in spec.items():  # the full package's answers, in this process
        arrays = dict(np.load(case["x"])) if case.get("x") else {}
        if case["call"] == "predict":
            full[name] = Model.load(case["artifact"]).predict(arrays["x"])
        elif case["call"] == "texts":
            full[name] = Model.load(case["artifact"]).predict(case["texts"])
        elif case["call"] == "inputs":
            full[name] = Model.load(case["artifact"]).predict(arrays)
        elif case["call"] == "stream":
            full[name] = Model.load(case["artifact"]).stream_predict(arrays["x"])
        else:
            enc, dec = Model.load(case["encoder"]), Model.load(case["artifact"])
            full[name] = np.array([_padded(generate(enc, dec, img, beam=b)) for img in arrays["x"] for b in (1, 3)])
    return spec, full


def _padded(tokens: list[int]) -> list[int]:
    return tokens + [-1] * (9 - len(tokens))


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that would put the worktree or the project venv on the path."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}


def _sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, env=_clean_env(), **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def test_runtime_wheel_alone_runs_every_artifact_kind_like_the_full_package(tmp_path):
    arts = tmp_path / "arts"
    arts.mkdir()
    spec, full = _artifacts(arts)
    assert {n.split(".")[0] for n in spec} == {"single", "masked0", "masked1", "stream", "zscore", "texts", "multi", "captioner"}

    dist = tmp_path / "dist"
    _sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT / "runtime")], cwd=tmp_path)
    (wheel,) = dist.glob("lstm_deploy_runtime-*.whl")
    from lstm_deploy import __version__

    assert wheel.name.startswith(f"lstm_deploy_runtime-{__version__}-")  # one version for both distributions
    venv = tmp_path / "venv"
    _sh([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    _sh([str(py), "-m", "pip", "install", "--quiet", f"{wheel}[litert,onnx]"], cwd=tmp_path)
    listed = json.loads(_sh([str(py), "-m", "pip", "list", "--format=json"], cwd=tmp_path).stdout)
    installed = {p["name"].lower().replace("_", "-") for p in listed}
    assert not installed & {"tensorflow", "tensorflow-cpu", "keras", "tf-keras", "lstm-deploy", "tf2onnx", "onnx"}, installed

    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "run.py").write_text(_RUN)
    proc = _sh([str(py), str(tmp_path / "run.py"), str(tmp_path / "spec.json"), str(tmp_path / "out.npz")], cwd=tmp_path)
    assert str(venv) in proc.stdout  # the installed wheel ran, not the worktree
    got = dict(np.load(tmp_path / "out.npz"))
    assert sorted(got) == sorted(full)
    for name in spec:
        assert got[name].shape == full[name].shape, name
        assert np.abs(got[name].astype(np.float64) - full[name].astype(np.float64)).max() <= 1e-6, name
    # the app example runs on the runtime distribution alone too (the copy-one-file route is retired)
    art = spec["single.fp32.tflite"]["artifact"]
    np.save(tmp_path / "x.npy", np.load(spec["single.fp32.tflite"]["x"])["x"])
    app = _sh([str(py), str(ROOT / "examples" / "app" / "predict.py"), art, str(tmp_path / "x.npy")], cwd=tmp_path)
    assert np.abs(np.array(json.loads(app.stdout)["y"]) - full["single.fp32.tflite"]).max() <= 1e-6
    size = _du(venv)
    print(f"\nruntime-only venv ({len(installed)} packages: {', '.join(sorted(installed))}): {size / 2**20:.0f} MiB")
    shutil.rmtree(venv, ignore_errors=True)
