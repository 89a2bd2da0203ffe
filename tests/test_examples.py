"""Every example runs in order from a fresh checkout (no example_out/ yet), with small settings.

One Python process runs them all (``runpy``, as ``python examples/NN.py`` would, in order) so
TensorFlow is imported once; ``LSTM_DEPLOY_EXAMPLES_SMALL=1`` shrinks every budget. Their
output must be the examples' own lines: no traceback, no TensorFlow / LiteRT / ONNX Runtime log line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ["01_inspect.py", "02_prune.py", "03_quantize.py", "04_export.py", "05_runtime.py", "06_benchmark.py", "07_pipeline.py"]
DRIVER = """
import runpy, sys, time
sys.path.insert(0, {examples!r})
for name in {names!r}:
    print("== " + name, flush=True)
    start = time.perf_counter()
    sys.argv = [name]
    runpy.run_path({examples!r} + "/" + name, run_name="__main__")
    print(f"-- {{time.perf_counter() - start:.0f}} s", flush=True)
"""
pytestmark = pytest.mark.slow  # slow tier: seven examples end to end (1.5-2.5 min)

NOISE = ("Traceback", "XNNPACK", "TensorFlow Lite", "oneDNN", "cuda", "[W:onnxruntime", "W0000", "I0000", "E0000", "WARNING")


def test_examples_run_in_order_from_a_fresh_clone(tmp_path):
    env = {**os.environ, "LSTM_DEPLOY_EXAMPLES_SMALL": "1", "LSTM_DEPLOY_EXAMPLES_OUT": str(tmp_path / "example_out"),
           "PYTHONPATH": str(ROOT)}
    for var in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND"):  # as a user's shell has them: unset
        env.pop(var, None)
    code = DRIVER.format(examples=str(ROOT / "examples"), names=EXAMPLES)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert [line for line in output.splitlines() if line.startswith("== ")] == [f"== {n}" for n in EXAMPLES]
    noise = [line for line in output.splitlines() if any(word in line for word in NOISE)]
    assert not noise, noise
    assert "first run: creating" in output  # 01 made the model and data itself
    for made in ("model.keras", "data.npz", "pruned.keras", "qat.keras", "artifacts/qat.fp32.tflite", "bench/report.html"):
        assert (tmp_path / "example_out" / made).exists(), made
