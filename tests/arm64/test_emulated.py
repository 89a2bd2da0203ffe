"""Slow tier: artifacts on an emulated ARM64 CPU (qemu 10) against the same artifacts on x86 and the Keras model.

The environment is set up on first use (``lstm-deploy arm64 setup``: Debian and PyPI only, about
130 MB, cached per user); on a host that cannot have it (not Debian/Ubuntu x86-64) these tests skip.
Breakage seen caught: LSTM_DEPLOY_TEST_ARM64_PERTURB=0.5 set for the whole file (the emulated
outputs rolled and shifted) turned test_artifacts_match_x86 and test_benchmark_arch_arm64 red;
export's ARM64 failure path is exercised in every run by the perturbation hook.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests import zoo
from tests.helpers import make_npz, run_cli

pytestmark = pytest.mark.slow
CPU = "cortex-a76"  # a phone big core: NEON with the dot-product instructions x86 never runs


@pytest.fixture(scope="module")
def arm64_env():
    from lstm_deploy.arm64 import Arm64Unavailable, setup_env
    from lstm_deploy.arm64.apt import check_host

    try:
        check_host()
    except Arm64Unavailable as exc:
        pytest.skip(str(exc))
    return setup_env(progress=False)


def test_artifacts_match_x86(arm64_env):
    """TFLite fp32 / int8 and ONNX fp32 of a trained classifier: the ARM64 kernels answer as x86 does."""
    from lstm_deploy.arm64.crosscheck import cross_check
    from lstm_deploy.export.parity import FP32_TOLERANCE
    from lstm_deploy.metrics import rel_error
    from lstm_deploy.runtime import Model

    model, results, _ = zoo.exported("quant")
    by_name = {r.artifact.name: r.artifact for r in results}
    paths = [by_name["clf.fp32.tflite"], by_name["clf.int8.tflite"], by_name["clf.fp32.onnx"]]
    _, data = zoo.trained_classifier()
    x = np.load(data)["x_test"]
    keras = np.asarray(model(x, training=False))
    (check,) = cross_check(arm64_env, paths, x, [CPU])
    assert check.machine == "aarch64" and "asimddp" in check.features  # it ran as ARM64, on the CPU model asked for
    for path in paths:
        one = check.artifacts[str(path)]
        assert one.error is None and one.outputs.shape == keras.shape
        if ".fp32." in path.name:
            assert one.max_abs_diff <= 1e-5, path.name
            assert rel_error(one.outputs, keras) <= FP32_TOLERANCE, path.name
        else:  # int8: the same integer kernels' answer, at most one output quantization step away
            scale = Model.load(path).outputs[Model.load(path).output_name].scale
            assert one.argmax_agreement_x86 == 1.0
            assert one.max_abs_diff <= scale + 1e-9


@pytest.fixture(scope="module")
def verified(arm64_env, tmp_path_factory):
    """``export --verify-arch arm64`` of a small saved model (TFLite and ONNX fp32): (exit code, stderr, out dir, model)."""
    import contextlib

    _, _, src = zoo.exported("stacked")
    out = tmp_path_factory.mktemp("verified")
    # run_cli wants capsys, which a module fixture cannot have: call main with stderr captured to a file
    from lstm_deploy.cli import main

    err = tmp_path_factory.mktemp("log") / "stderr.txt"
    with open(err, "w") as fh, contextlib.redirect_stderr(fh), pytest.raises(SystemExit) as exc:
        # fp32 only: int8 of this untrained model, calibrated without --data, passed or missed its own x86 agreement
        # budget from run to run (the int8-on-ARM64 equality is test_artifacts_match_x86's, bit for bit)
        main([str(a) for a in ["export", src / "model.keras", "--quantize", "fp32", *ARCH_ARGS, "-o", out]])
    return exc.value.code, err.read_text(), out, src / "model.keras"


ARCH_ARGS = ["--verify-arch", "arm64", "--verify-cpu", CPU]


def test_export_verify_arch_records_the_check(verified):
    code, err, out, _ = verified
    assert code == 0, err
    for name in ("model.fp32.tflite", "model.fp32.onnx"):
        entry = json.loads((out / f"{name}.json").read_text())["verified_arch"]["arm64"]
        assert entry["passed"] is True and list(entry["cpus"]) == [CPU] and entry["perturbed"] is False
        assert entry["cpus"][CPU]["x86_max_abs_diff"] <= 1e-5


def test_export_verify_arch_fails_on_wrong_arm64_outputs(verified, tmp_path, capsys, monkeypatch):
    """With perturbed ARM64 outputs (test-only hook) the check fails (exit 1) and leaves no artifact behind."""
    monkeypatch.setenv("LSTM_DEPLOY_TEST_ARM64_PERTURB", "0.5")
    code, _, err = run_cli(["export", verified[3], "--tflite", "--onnx", "--quantize", "fp32", *ARCH_ARGS, "-o", tmp_path / "bad"], capsys)
    assert code == 1
    assert f"tflite fp32: on emulated ARM64 {CPU}: rel_error" in err
    assert f"onnx fp32: on emulated ARM64 {CPU}: rel_error" in err
    assert sorted(p.name for p in (tmp_path / "bad").iterdir()) == []  # neither artifact nor manifest left


def test_benchmark_arch_arm64(verified, tmp_path, capsys):
    """ARM64 rows per artifact: agreement with Keras and distance from x86, emulated seconds in their own column."""
    _, _, out, model = verified
    arts = sorted(p for p in out.iterdir() if p.suffix in (".tflite", ".onnx"))
    data = make_npz(tmp_path / "d.npz", x_shape=(zoo.T, zoo.F), n=16, classes=3)
    code, _, err = run_cli(["benchmark", model, *arts, "--data", data, "--runtimes", "tflite,onnxruntime", "--repeats", "2", "--warmup", "0",
                            "--arch", "arm64", "--cpu", "cortex-a53", "--arch-samples", "8", "-o", tmp_path / "b"], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    rows = report["arm64"]["rows"]
    assert sorted(r["artifact"] for r in rows) == [a.name for a in arts]
    for row in rows:
        assert row["status"] == "ok" and row["cpu"] == "cortex-a53" and row["samples"] == 8
        # ARM64 answers what x86 answers; a float artifact also answers what Keras does (an int8 one may differ from
        # Keras on near-ties of the shared trained model, on x86 as on ARM64: seen once, agreement 0.5 on both)
        assert row["x86_max_abs_diff"] <= 1e-5 and row["emulated_s"] > 0
        assert row["agreement"] == 1.0 or "int8" in row["artifact"], row
        assert not any(k.endswith("_ms") for k in row)  # never milliseconds beside the host's
    assert all(r.get("arch") is None for r in report["results"])  # host rows stay host rows
    assert "emulated s (not phone latency)" in (tmp_path / "b" / "report.md").read_text()
