"""``run_artifacts(env, paths, x, cpu)``: artifacts through the TF-free runtime on an emulated ARM64 CPU.

One emulated Python process per call runs every artifact (:mod:`.guest`) with
``lstm_deploy_runtime.Model.load(path, num_threads=threads, preprocess=False).predict(x)`` -- the code apps run,
the same batch composition as on x86 -- and returns the outputs with the emulated seconds.
Emulated seconds are NOT phone latency (qemu translates every instruction; this qemu is a
static build without TCG plugins, so no instruction counts either): report them as emulated.

``LSTM_DEPLOY_TEST_ARM64_PERTURB`` (TEST-ONLY, never set it otherwise): a number ``p`` that
perturbs every emulated output (``roll(y, 1, axis=-1) * (1 + p) + p``) so the tests can watch
the ARM64 checks fail on a wrong ARM64 result.

Example:
    >>> run = run_artifacts(find_env(), ["out/m.int8.tflite"], x, "cortex-a76")   # doctest: +SKIP
    >>> run.outputs["out/m.int8.tflite"].shape, run.seconds["out/m.int8.tflite"]   # doctest: +SKIP
    ((200, 4), 3.1)
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .env import Arm64Env, runtime_source_dir
from .errors import Arm64Unavailable

PERTURB_ENV = "LSTM_DEPLOY_TEST_ARM64_PERTURB"  # test-only: see the module docstring
GUEST = Path(__file__).with_name("guest.py")


@dataclass(frozen=True)
class EmulatedRun:
    """Outputs of one emulated process: per artifact path its outputs (or error) and emulated seconds."""

    cpu: str
    outputs: dict[str, np.ndarray]
    seconds: dict[str, float]
    errors: dict[str, str]
    machine: str
    features: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    perturbed: bool = False


def run_artifacts(env: Arm64Env, paths: Sequence[str | Path], x: Any, cpu: str, *, threads: int = 1,
                  timeout_s: float = 1800.0) -> EmulatedRun:
    """Run every artifact in ``paths`` on inputs ``x`` (an array or ``{input name: array}``) on emulated ``cpu``."""
    import time

    keys = [str(p) for p in paths]
    with tempfile.TemporaryDirectory(prefix="lstm-deploy-arm64-") as tmp:
        work = Path(tmp)
        arrays = {f"x__{k}": np.asarray(v) for k, v in x.items()} if isinstance(x, dict) else {"x": np.asarray(x)}
        np.savez(work / "inputs.npz", **arrays)
        job = {"path": [str(runtime_source_dir()), str(env.site)], "artifacts": [str(Path(p).resolve()) for p in paths],
               "inputs": str(work / "inputs.npz"), "threads": threads, "outputs": str(work / "outputs.npz"), "result": str(work / "result.json")}
        (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
        started = time.perf_counter()
        try:
            proc = subprocess.run([*env.command(cpu), str(GUEST), str(work / "job.json")], capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise Arm64Unavailable(f"the emulated run on {cpu} took longer than {timeout_s:.0f} s; use fewer samples") from None
        wall = time.perf_counter() - started
        if proc.returncode != 0 or not (work / "result.json").is_file():
            last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise Arm64Unavailable(f"the emulated Python on {cpu} failed: {last}")
        result = json.loads((work / "result.json").read_text(encoding="utf-8"))
        with np.load(work / "outputs.npz", allow_pickle=False) as npz:
            produced = {keys[int(name[len("out_"):])]: npz[name] for name in npz.files}
    perturb = _perturbation()
    if perturb is not None:
        produced = {k: (np.roll(v, 1, axis=-1) * (1 + perturb) + perturb).astype(v.dtype) for k, v in produced.items()}
    seconds = {k: r["load_s"] + r["predict_s"] for k, r in zip(keys, result["results"]) if r["status"] == "ok"}
    errors = {k: r["reason"] for k, r in zip(keys, result["results"]) if r["status"] != "ok"}
    return EmulatedRun(cpu, produced, seconds, errors, result["machine"], result["features"], wall, perturb is not None)


def _perturbation() -> float | None:
    text = os.environ.get(PERTURB_ENV)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise Arm64Unavailable(f"{PERTURB_ENV} (test-only): expected a number, got {text!r}") from None
