"""Run LiteRT's ``benchmark_model`` on an Android device over adb.

Host numbers are not phone numbers; this is how to get phone numbers. Needs ``adb``
on PATH, the device in the ``device`` state, and LiteRT's Android
``benchmark_model`` binary: either already at :data:`DEVICE_BINARY` on the device or
given as ``binary`` (pushed for you). Nothing is downloaded.

Example:
    >>> parse_benchmark_output("Inference timings in us: Init: 5685, First inference: 18525, "
    ...                        "Warmup (avg): 14462.3, Inference (avg): 14154.3")["avg_ms"]
    14.1543
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import InputError, LstmDeployError

DEVICE_DIR = "/data/local/tmp/lstm_deploy"
DEVICE_BINARY = "/data/local/tmp/benchmark_model"
_GET_BINARY = ("get LiteRT's Android benchmark_model for the device ABI (see "
               "https://ai.google.dev/edge/litert/models/measurement) and pass it with --adb-binary PATH")


class AdbError(LstmDeployError):
    """adb or the on-device benchmark failed after the device was found."""


def _adb(serial: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    adb = shutil.which("adb")
    if adb is None:
        raise InputError("--adb: the adb tool is not on PATH; install Android platform-tools and connect the device")
    try:
        return subprocess.run([adb, "-s", serial, *args], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AdbError(f"--adb {serial}: 'adb {' '.join(args)}' did not finish in {timeout:.0f} s") from None


def check_device(serial: str) -> str:
    """Return the device model name, or raise InputError when adb or the device is missing."""
    adb = shutil.which("adb")
    if adb is None:
        raise InputError("--adb: the adb tool is not on PATH; install Android platform-tools and connect the device")
    listing = subprocess.run([adb, "devices"], capture_output=True, text=True, timeout=30, check=False).stdout
    states = dict(line.split()[:2] for line in listing.splitlines()[1:] if len(line.split()) >= 2)
    if serial not in states:
        found = ", ".join(f"{k} ({v})" for k, v in states.items()) or "none"
        raise InputError(f"--adb {serial}: no such device; adb sees: {found}")
    if states[serial] != "device":
        raise InputError(f"--adb {serial}: device is '{states[serial]}', expected 'device' (unlock it and accept USB debugging)")
    return _adb(serial, "shell", "getprop", "ro.product.model").stdout.strip() or serial


def parse_benchmark_output(text: str) -> dict[str, Any]:
    """Timings (ms) and memory from benchmark_model's log; raises AdbError when absent."""
    m = re.search(r"Inference timings in us: Init: ([\d.]+), First inference: ([\d.]+), "
                  r"Warmup \(avg\): ([\d.]+), Inference \(avg\): ([\d.]+)", text)
    if not m:
        tail = text.strip().splitlines()[-1] if text.strip() else "(no output)"
        raise AdbError(f"benchmark_model printed no timings; last line: {tail}")
    init, first, warm, avg = (float(v) / 1000 for v in m.groups())
    out: dict[str, Any] = {"init_ms": init, "first_inference_ms": first, "warmup_avg_ms": warm, "avg_ms": avg}
    mem = re.search(r"overall=([\d.]+)", text)
    out["memory_overall_mb"] = float(mem.group(1)) if mem else None
    return out


def run_on_device(serial: str, artifacts: list[Path], threads: list[int], warmup: int, repeats: int,
                  binary: str | Path | None = None) -> list[dict[str, Any]]:
    """Push each ``.tflite`` and time it with benchmark_model for each thread count."""
    device = check_device(serial)
    if binary is not None:
        if not Path(binary).is_file():
            raise InputError(f"--adb-binary {binary}: file does not exist; {_GET_BINARY}")
        _check(_adb(serial, "push", str(binary), DEVICE_BINARY), "push benchmark_model")
        _check(_adb(serial, "shell", "chmod", "755", DEVICE_BINARY), "chmod benchmark_model")
    elif _adb(serial, "shell", "ls", DEVICE_BINARY).returncode != 0:
        raise InputError(f"--adb {serial}: {DEVICE_BINARY} is not on the device; {_GET_BINARY}")
    _check(_adb(serial, "shell", "mkdir", "-p", DEVICE_DIR), "mkdir")
    rows = []
    for art in artifacts:
        remote = f"{DEVICE_DIR}/{Path(art).name}"
        _check(_adb(serial, "push", str(art), remote), f"push {art}")
        for t in threads:
            proc = _adb(serial, "shell", DEVICE_BINARY, f"--graph={remote}", f"--num_threads={t}",
                        f"--warmup_runs={warmup}", f"--num_runs={repeats}", "--use_xnnpack=true", timeout=600)
            rows.append({"artifact": Path(art).name, "device": device, "serial": serial, "threads": t,
                         **parse_benchmark_output(proc.stdout + proc.stderr)})
    return rows


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise AdbError(f"adb {what} failed: {msg[-1] if msg else f'exit code {proc.returncode}'}")
