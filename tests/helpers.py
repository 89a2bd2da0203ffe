"""Helpers shared by the test modules: the one ``run_cli``, small data files, the bare-LiteRT reference."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest


def run_cli(args, capsys):
    """Run ``lstm-deploy ARGS`` in-process (paths may be ``Path``); return ``(exit code, stdout, stderr)``."""
    from lstm_deploy.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: the child gets SIGKILL when the test process dies (a killed pytest leaves no orphan)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def child_process(args: list, **popen) -> Iterator[subprocess.Popen]:
    """``subprocess.Popen(args)`` that never outlives its test: killed on exit, and when pytest itself is killed.

    Example:
        >>> with child_process([sys.executable, "-c", "print(1)"], stdout=subprocess.PIPE, text=True) as proc:
        ...     proc.communicate()[0]
        '1\\n'
    """
    proc = subprocess.Popen([str(a) for a in args], preexec_fn=_die_with_parent, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def make_npz(path, x_shape=(6, 3), n=24, classes=2, seed=0, **overrides):
    """Write a small valid data file (classification) and return its path."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.normal(size=(n, *x_shape)).astype(np.float32),
        "y_train": rng.integers(0, classes, size=n),
        "x_test": rng.normal(size=(n // 2, *x_shape)).astype(np.float32),
        "y_test": rng.integers(0, classes, size=n // 2),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def write_toy_sequences(path, n=48, n_train=32, seed=0):
    """A learnable 2-class problem on (6, 3) sequences, written as an .npz."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 3)).astype("float32")
    y = (x[:, :, 0].mean(1) > 0).astype("int64")
    np.savez(path, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
    return path


def bare_tflite_predict(model, x):
    """Independent reference for a .tflite file or flatbuffer: the bare LiteRT API, one sequence per
    invoke, state reset by hand, int8 input/output (de)quantized by hand. No lstm_deploy code."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model) if isinstance(model, (bytes, bytearray)) else Interpreter(model_path=str(model))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    ys = []
    for seq in x:
        it.reset_all_variables()
        feed = seq[None]
        if inp["dtype"] == np.int8:
            scale, zp = inp["quantization"]
            feed = np.clip(np.round(feed / scale + zp), -128, 127).astype(np.int8)
        it.set_tensor(inp["index"], feed.astype(inp["dtype"]))
        it.invoke()
        y = it.get_tensor(out["index"])[0].astype(np.float32)
        if out["dtype"] == np.int8:
            scale, zp = out["quantization"]
            y = (y - zp) * scale
        ys.append(y)
    return np.stack(ys)
