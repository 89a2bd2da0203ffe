"""Fast tier: the ARM64 environment's refusals and its runtime source, without downloading or emulating anything.

Breakage seen caught: dropping the version comparison in arm64/qemu.py (a 7.2 qemu was accepted:
test_old_qemu_is_refused went red); returning before the override check in setup_env (the cached
environment hid the refusal, exit 0); the fallback runtime keeping ``from ._tf import`` (the runtime-source test failed); the ARM64
set-up moved after the conversions in export (an unverified folder was left: the last test went red).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lstm_deploy.arm64 import Arm64Unavailable, runtime_source_dir
from lstm_deploy.arm64.qemu import checked_version, parse_version
from tests.helpers import run_cli


def _fake_qemu(tmp_path, version_line: str):
    path = tmp_path / "qemu-aarch64"
    path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    path.chmod(0o755)
    return path


def test_parse_version_reads_qemu_banner():
    assert parse_version("qemu-aarch64 version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright") == (10, 0, 2)
    assert parse_version("qemu-aarch64 version 7.2.0") == (7, 2, 0)
    assert parse_version("ls (GNU coreutils) 9.1") is None


def test_qemu_10_is_accepted_by_its_version(tmp_path):
    assert checked_version(_fake_qemu(tmp_path, "qemu-aarch64 version 10.1.0")) == "10.1.0"


def test_old_qemu_is_refused(tmp_path, capsys, monkeypatch):
    """An explicit --qemu older than 10 is refused before anything is downloaded: one 'unavailable:' line, exit 2."""
    monkeypatch.setenv("LSTM_DEPLOY_ARM64_HOME", str(tmp_path / "cache"))
    old = _fake_qemu(tmp_path, "qemu-aarch64 version 7.2.0 (Debian 1:7.2+dfsg-7+deb12u18)")
    code, out, err = run_cli(["arm64", "setup", "--qemu", old], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("unavailable: qemu-aarch64 ") and "version 7.2.0" in err and "older than 10" in err
    assert not (tmp_path / "cache").exists()  # nothing fetched, nothing written


def test_old_qemu_is_refused_even_with_a_cached_environment(tmp_path, capsys, monkeypatch):
    """A complete environment in the cache does not make an old --qemu acceptable."""
    from lstm_deploy.arm64.env import env_dir

    monkeypatch.setenv("LSTM_DEPLOY_ARM64_HOME", str(tmp_path / "cache"))
    root = env_dir()
    root.mkdir(parents=True)
    (root / "env.json").write_text(json.dumps({"qemu": {"path": str(_fake_qemu(tmp_path, "qemu-aarch64 version 10.0.2")), "version": "10.0.2"}}))
    (root / "sysroot/usr/bin").mkdir(parents=True)
    (root / "sysroot/usr/bin/python3.11").write_text("")
    old = tmp_path / "old"
    old.mkdir()
    code, _, err = run_cli(["arm64", "setup", "--qemu", _fake_qemu(old, "qemu-aarch64 version 8.2.2")], capsys)
    assert code == 2 and "version 8.2.2" in err


def test_something_else_than_qemu_is_refused(tmp_path, capsys):
    code, _, err = run_cli(["arm64", "setup", "--qemu", _fake_qemu(tmp_path, "ls (GNU coreutils) 9.1")], capsys)
    assert code == 2 and "is not qemu-aarch64" in err


def test_host_without_apt_is_unavailable(tmp_path, capsys, monkeypatch):
    """No apt-get / dpkg-deb (a non-Debian host): one line saying so, exit 2."""
    monkeypatch.setenv("LSTM_DEPLOY_ARM64_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without apt-get or dpkg-deb
    code, _, err = run_cli(["arm64", "setup"], capsys)
    assert code == 2
    assert err.startswith("unavailable: apt-get, dpkg-deb not found") and err.count("\n") == 1


def test_status_without_environment_says_how_to_set_it_up(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LSTM_DEPLOY_ARM64_HOME", str(tmp_path))
    code, out, _ = run_cli(["arm64", "status", "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["ready"] is False and "lstm-deploy arm64 setup" in info["why"]
    assert info["root"].startswith(str(tmp_path))


def test_environment_is_keyed_by_the_host_runtime_versions(tmp_path, monkeypatch):
    from importlib.metadata import version

    from lstm_deploy.arm64.env import env_dir

    monkeypatch.setenv("LSTM_DEPLOY_ARM64_HOME", str(tmp_path))
    name = env_dir().name
    assert f"ai-edge-litert{version('ai-edge-litert')}" in name and f"onnxruntime{version('onnxruntime')}" in name


def test_runtime_source_runs_artifacts_without_lstm_deploy(tmp_path):
    """What goes on the emulated PYTHONPATH imports as lstm_deploy_runtime, loads nothing of lstm_deploy or TensorFlow,
    and answers exactly as lstm_deploy.runtime for the same artifacts (run here, on x86)."""
    import numpy as np

    from lstm_deploy.runtime import Model
    from tests import zoo

    _, results, _ = zoo.exported("stacked")
    paths = [str(r.artifact) for r in results]
    x = np.random.default_rng(0).normal(size=(5, zoo.T, zoo.F)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, json, numpy as np, lstm_deploy_runtime as r; x = np.load(sys.argv[1]); "
            "np.savez(sys.argv[2], *[r.Model.load(p, num_threads=1).predict(x) for p in json.loads(sys.argv[3])]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lstm_deploy', 'tensorflow', 'keras')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.npy"), str(tmp_path / "y.npz"), json.dumps(paths)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(runtime_source_dir())}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
    with np.load(tmp_path / "y.npz") as got:
        for i, path in enumerate(paths):
            np.testing.assert_array_equal(got[f"arr_{i}"], Model.load(path, num_threads=1).predict(x))


def test_verify_arch_with_streaming_is_refused(tmp_path, capsys):
    code, _, err = run_cli(["export", tmp_path / "m.keras", "-o", tmp_path / "out", "--streaming", "--verify-arch", "arm64"], capsys)
    assert code == 2 and "--verify-arch with --streaming" in err


def test_unknown_arch_is_refused(tmp_path, capsys):
    code, _, err = run_cli(["benchmark", tmp_path / "a.onnx", "--data", tmp_path / "d.npz", "--arch", "riscv", "-o", tmp_path / "b"], capsys)
    assert code == 2 and "riscv" in err


def test_unavailable_message_is_one_line():
    assert str(Arm64Unavailable("no apt")) == "unavailable: no apt"
    with pytest.raises(Arm64Unavailable, match="^unavailable: "):
        raise Arm64Unavailable("x")


def test_export_verify_arch_unavailable_converts_nothing(tmp_path, capsys, monkeypatch):
    """Without an ARM64 environment to be had, export --verify-arch stops before any conversion: exit 2, no folder written."""
    from tests import zoo

    monkeypatch.setenv("LSTM_DEPLOY_ARM64_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get / dpkg-deb
    _, _, src = zoo.exported("stacked")
    code, _, err = run_cli(["export", src / "model.keras", "--onnx", "--verify-arch", "arm64", "-o", tmp_path / "out"], capsys)
    assert code == 2 and "unavailable: apt-get, dpkg-deb not found" in err
    assert not (tmp_path / "out").exists()
