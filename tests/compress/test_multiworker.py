"""Fine-tuning under MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 give the one-worker result.

Tier: slow (three processes import TensorFlow and fine-tune three times each; 3-8 min on 2 busy cores).

Both workers get the same ``TF_CONFIG`` cluster (their own index) and the same data; the global
batch is split between them and the gradients are all-reduced, so the fine-tuned model must equal
a one-worker run up to float summation order. Measured: unit pruning 6e-8, QAT 0.0 (max abs
difference of the outputs on x_test); the tolerance is 1e-5.

Magnitude pruning (tfmot's ``prune_low_magnitude``) fails under the strategy
("TypeError: tuple indices must be integers or slices, not MirroredVariable"): marked xfail(strict)
so that the day it works, the test says so.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
JOB = Path(__file__).with_name("multiworker_job.py")
TOLERANCE = 1e-5


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import tf_keras

    tmp = tmp_path_factory.mktemp("multiworker")
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((6, 3)), tf_keras.layers.LSTM(8), tf_keras.layers.Dense(2, activation="softmax")])
    model.save(tmp / "m.keras")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 6, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    np.savez(tmp / "d.npz", x_train=x[:96], y_train=y[:96], x_test=x[96:], y_test=y[96:])
    ports = _free_ports(2)
    base = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"} | {"PYTHONPATH": str(ROOT)}
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    envs = {f"worker{i}": base | {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})} for i in (0, 1)}
    envs["single"] = base
    procs = {name: subprocess.Popen([sys.executable, str(JOB), str(tmp / "m.keras"), str(tmp / "d.npz"), str(tmp / name)],
                                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name, env in envs.items()}
    logs = {}
    try:
        for name, proc in procs.items():
            logs[name] = proc.communicate(timeout=1200)[0]
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name}:\n{logs[name][-3000:]}"
    return {name: json.loads((tmp / name / "result.json").read_text()) for name in procs}


def test_two_workers_train_under_the_multi_worker_strategy(runs):
    for i in (0, 1):
        assert runs[f"worker{i}"]["strategy"].endswith("(2 replicas)"), runs[f"worker{i}"]["strategy"]
        assert "CollectiveAllReduce" in runs[f"worker{i}"]["strategy"] or "MultiWorker" in runs[f"worker{i}"]["strategy"]
    assert runs["single"]["strategy"].endswith("(1 replica)")


@pytest.mark.parametrize("stage", ["units", "qat"])
def test_two_workers_give_the_one_worker_result(runs, stage):
    outs = {name: runs[name]["outputs"][stage] for name in runs}
    for name, out in outs.items():
        assert not isinstance(out, str), f"{name} {stage}: {out}"
    w0, w1, single = (np.asarray(outs[n]) for n in ("worker0", "worker1", "single"))
    assert np.abs(w0 - w1).max() <= TOLERANCE  # the workers hold one model
    assert np.abs(w0 - single).max() <= TOLERANCE


@pytest.mark.xfail(strict=True, reason="tfmot prune_low_magnitude under MultiWorkerMirroredStrategy: "
                                       "TypeError: tuple indices must be integers or slices, not MirroredVariable")
def test_magnitude_pruning_under_two_workers(runs):
    for name in ("worker0", "worker1"):
        assert not isinstance(runs[name]["outputs"]["magnitude"], str), runs[name]["outputs"]["magnitude"]
    np.testing.assert_allclose(runs["worker0"]["outputs"]["magnitude"], runs["single"]["outputs"]["magnitude"], atol=TOLERANCE)
