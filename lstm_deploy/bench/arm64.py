"""ARM64 rows of a benchmark (``--arch arm64``): every artifact on emulated phone-class CPUs.

Each .tflite / .onnx artifact runs through the TF-free runtime under the emulated aarch64
Python on each CPU model (:func:`lstm_deploy.arm64.crosscheck.cross_check`), on the first
``arm64_samples`` evaluation samples, one thread: the task metric, agreement with the source
Keras model and the distance from the same artifact run on x86 the same way. The time column
is emulated seconds (qemu translating every instruction), never milliseconds beside the host's:
it says what the emulation cost, not how fast a phone is.

Example:
    >>> report = benchmark(["out/"], "data.npz", BenchConfig(arch=("arm64",), arm64_cpus=("cortex-a76",)))  # doctest: +SKIP
    >>> report.arm64["rows"][0]["x86_max_abs_diff"]                                                          # doctest: +SKIP
    0.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..load.dataset import take
from ..metrics import agreement, task_metrics
from .artifacts import Artifact
from .config import BenchConfig

#: The sentence every ARM64 table carries.
ARM64_NOTE = ("ARM64 rows ran under qemu user-mode emulation of each CPU model: outputs are the ARM64 kernels' own (NEON, dot product, "
              "i8mm where the model has them), so agreement and differences are real; emulated seconds are the cost of emulation, "
              "not phone latency (no instruction counts: the shipped qemu is a static build without TCG plugins).")


def prepare(config: BenchConfig, say: Callable[[str], None] | None = None) -> Any:
    """The ARM64 environment (set up now if missing) with ``config.arm64_cpus`` checked; before the long host run."""
    from ..arm64 import setup_env
    from ..arm64.env import check_cpus

    env = setup_env(progress=True, say=say)
    check_cpus(env, config.arm64_cpus, "--cpu")
    return env


def arm64_section(env: Any, artifacts: list[Artifact], x_eval: Any, y_eval: np.ndarray, task: str,
                  references: dict[str, tuple[str, tuple[str, str], np.ndarray]], config: BenchConfig,
                  say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``report.arm64``: the environment, the CPU models' features and one row per (artifact, CPU model)."""
    from ..arm64.crosscheck import cross_check

    runnable = [a for a in artifacts if a.format in ("tflite", "onnx") and not a.skip_reason and not (a.manifest or {}).get("streaming")]
    rows: list[dict[str, Any]] = []
    for art in artifacts:
        if art.format in ("tflite", "onnx") and art not in runnable:
            reason = art.skip_reason or "streaming artifacts are stepped one time step at a time; not run under emulation yet"
            rows += [_base(art, cpu) | {"status": "skipped", "reason": reason} for cpu in config.arm64_cpus]
    n = min(config.arm64_samples, len(y_eval))
    x, y = take(x_eval, slice(0, n)), y_eval[:n]
    checks = cross_check(env, [a.path for a in runnable], x, config.arm64_cpus, threads=1, say=say) if runnable else []
    for check in checks:
        for art in runnable:
            one = check.artifacts[str(art.path)]
            row = _base(art, check.cpu) | {"samples": n, "cpu_features": " ".join(check.features)}
            if one.outputs is None:
                rows.append(row | {"status": "error", "reason": one.error})
                continue
            ref = references.get(art.name)
            keras = agreement(one.outputs, ref[2][:n], task) if ref is not None else {}
            rows.append(row | {"status": "ok", **task_metrics(y, one.outputs, task), "reference": ref[0] if ref else None,
                               "agreement": keras.get("agreement"), "keras_rel_error": keras.get("rel_error"),
                               "x86_max_abs_diff": one.max_abs_diff, "x86_agreement": one.argmax_agreement_x86, "x86_bit_exact": one.bit_exact,
                               "emulated_s": one.emulated_s})
    order = {c: i for i, c in enumerate(config.arm64_cpus)}
    names = {a.name: i for i, a in enumerate(artifacts)}
    rows.sort(key=lambda r: (order[r["cpu"]], names[r["artifact"]]))
    return {"env": env.describe(), "cpus": {c.cpu: c.features for c in checks}, "wall_s": {c.cpu: c.wall_s for c in checks}, "threads": 1, "samples": n,
            "perturbed": any(c.perturbed for c in checks), "note": ARM64_NOTE, "rows": rows}


def _base(art: Artifact, cpu: str) -> dict[str, Any]:
    runtime = {"tflite": "LiteRT", "onnx": "ONNX Runtime"}[art.format]
    return {"artifact": art.name, "format": art.format, "quantization": art.quantization, "arch": "arm64", "cpu": cpu,
            "runtime": f"lstm_deploy_runtime ({runtime})", "threads": 1}
