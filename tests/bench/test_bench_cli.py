"""`lstm-deploy benchmark` end to end: real artifacts, real worker processes, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lstm_deploy.bench import get_runtime
from tests.helpers import run_cli
from tests.bench.test_runtimes import tiny_artifacts


@pytest.fixture(scope="module")
def tiny():
    return tiny_artifacts()


def test_benchmark_json_end_to_end(tiny, tmp_path, capsys):
    out_dir = tmp_path / "bench"
    code, out, err = run_cli(["benchmark", tiny["keras"], tiny["dir"], "--data", tiny["data"],
                          "--runtimes", "keras-function,tflite,onnxruntime,litert-gpu,openvino",
                          "--batch-sizes", "1,4", "--warmup", "1", "--repeats", "5", "--json", "-o", out_dir], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["schema_version"] == 1
    ok = [r for r in report["results"] if r["status"] == "ok"]
    openvino_here = get_runtime("openvino").available()[0]
    measured = {(r["artifact"], r["runtime"], r["batch_size"]) for r in ok}
    pairs = [("model.keras", "keras-function"), ("model_fp32.tflite", "tflite"), ("model_fp32.onnx", "onnxruntime")]
    assert measured == {(a, rt, b) for a, rt in pairs + [("model_fp32.onnx", "openvino")] * openvino_here for b in (1, 4)}
    for r in ok:
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["accuracy"] == 1.0 and r["peak_rss_mb"] > r["baseline_rss_mb"] > 0
        assert r["threads"] == 1 and r["repeats"] >= 5 and r["gzip_bytes"] > 0
    tfl4 = next(r for r in ok if r["runtime"] == "tflite" and r["batch_size"] == 4)
    assert tfl4["batching"] == "loop" and tfl4["agreement"] == 1.0
    onnx = next(r for r in ok if r["runtime"] == "onnxruntime")
    assert "assumed" in onnx["reference"] and onnx["max_abs_diff"] < 1e-4  # no manifest: the only Keras input
    assert any(r["pareto"] for r in ok)
    skipped = {r["runtime"]: r for r in report["results"] if r["status"] != "ok"}
    assert set(skipped) == {"litert-gpu"} | (set() if openvino_here else {"openvino"})  # installed: timed above, like the others
    if not openvino_here:
        assert skipped["openvino"]["reason"] == get_runtime("openvino").available()[1]
    assert skipped["litert-gpu"]["reason"] and skipped["litert-gpu"]["artifact"] == "model_fp32.tflite"
    assert report["machine"]["versions"]["ai-edge-litert"]
    for name in ("report.json", "report.csv", "report.md", "report.html", "latency_vs_metric.png",
                 "latency_by_runtime.png", "size_by_artifact.png"):
        assert (out_dir / name).stat().st_size > 0
    assert json.loads((out_dir / "report.json").read_text()) == report
    rec = report["recommendation"]  # the answer, first in the JSON; every artifact scores 100 %, so latency and size decide
    assert list(report)[:3] == ["schema", "schema_version", "recommendation"]
    assert rec["budget"] == {"metric": "accuracy", "max_drop": 0.01}
    assert rec["goals"]["fastest_cpu"]["artifact"] in ("model_fp32.tflite", "model_fp32.onnx")
    assert rec["goals"]["phone"]["artifact"] == "model_fp32.tflite" and "No int8 or dynamic TFLite" in rec["goals"]["phone"]["why"]
    assert rec["goals"]["phone"]["n_rows"] == ok[0]["eval_samples"] and rec["goals"]["phone"]["metric_drop"] == 0.0
    md = (out_dir / "report.md").read_text()
    assert md.index("## What to ship") < md.index("## Batch size 1 ")


def test_benchmark_table_output(tiny, tmp_path, capsys):
    solo = tmp_path / "solo.tflite"  # no manifest, no Keras input: no reference run needed
    solo.write_bytes(tiny["tflite"].read_bytes())
    with np.load(tiny["data"]) as full:  # only x_test/y_test drive a benchmark: a test-only file is enough
        np.savez(tmp_path / "test_only.npz", x_test=full["x_test"], y_test=full["y_test"])
    code, out, err = run_cli(["benchmark", solo, "--data", tmp_path / "test_only.npz", "--runtimes", "tflite,openvino",
                          "--threads", "1,2", "--warmup", "0", "--repeats", "5", "-o", tmp_path / "o"], capsys)
    assert code == 0, err
    assert "solo.tflite" in out and "better beyond noise" in out and "report.md" in out
    last = out.rstrip().splitlines()[-2:]  # the answer is the last thing printed (here: why there is none, on one line)
    assert last[0].startswith("What to ship") and "Keras model" in last[1]
    md = (tmp_path / "o" / "report.md").read_text()
    assert md.count("| solo.tflite | unknown | tflite |") == 2  # threads 1 and 2


@pytest.mark.parametrize("args, message", [
    (["--runtimes", "tensorflowjs"], "unknown runtime 'tensorflowjs'"),
    (["--batch-sizes", "1,x"], "--batch-sizes: expected comma-separated positive integers"),
    (["--threads", "0"], "--threads: expected comma-separated positive integers"),
    (["--repeats", "0"], "--repeats: Input should be greater than or equal to 1 (got 0)"),
])
def test_bad_options_exit_2(tiny, tmp_path, capsys, args, message):
    code, _, err = run_cli(["benchmark", tiny["tflite"], "--data", tiny["data"], "-o", tmp_path, *args], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "report.json").exists()


def test_bad_inputs_exit_2(tiny, tmp_path, capsys):
    code, _, err = run_cli(["benchmark", tmp_path / "missing.tflite", "--data", tiny["data"], "-o", tmp_path / "o"], capsys)
    assert code == 2 and "missing.tflite: does not exist" in err
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = run_cli(["benchmark", tmp_path / "notes.txt", "--data", tiny["data"], "-o", tmp_path / "o"], capsys)
    assert code == 2 and "unknown file type '.txt'" in err
    bad = tmp_path / "wrong_shape.npz"
    x = np.zeros((4, 9, 3), np.float32)
    np.savez(bad, x_train=x, y_train=np.zeros(4, int), x_test=x, y_test=np.zeros(4, int))
    code, _, err = run_cli(["benchmark", tiny["tflite"], "--data", bad, "-o", tmp_path / "o"], capsys)
    assert code == 2 and "sample shape (9, 3)" in err and "model_fp32.tflite expects (6, 3)" in err
    code, _, err = run_cli(["benchmark", tiny["tflite"], "--data", tiny["data"], "-o", tmp_path / "notes.txt"], capsys)
    assert code == 2 and "notes.txt: exists and is not a directory" in err
    code, _, err = run_cli(["benchmark", tiny["tflite"], "--data", tiny["data"], "--runtimes", "onnxruntime", "-o", tmp_path / "o"], capsys)
    assert code == 2 and "these run onnx files, but the inputs are tflite" in err
    assert not (tmp_path / "o").exists()


def test_adb_without_adb_fails_before_measuring(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run_cli(["benchmark", tiny["tflite"], "--data", tiny["data"], "--adb", "emulator-5554", "-o", tmp_path / "o"], capsys)
    assert code == 2 and "--adb: the adb tool is not on PATH" in err


def test_help_does_not_import_tensorflow():
    code = ("import sys; from lstm_deploy.cli import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['benchmark', '--help']); assert r.exit_code == 0, r.output; "
            "assert '--adb' in r.output and '--batch-sizes' in r.output; "
            "import lstm_deploy.bench; assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
