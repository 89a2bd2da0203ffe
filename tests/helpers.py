"""Helpers shared by the test modules: the one ``run_cli`` and small data files."""

from __future__ import annotations

import numpy as np
import pytest


def run_cli(args, capsys):
    """Run ``lstm-deploy ARGS`` in-process (paths may be ``Path``); return ``(exit code, stdout, stderr)``."""
    from lstm_deploy.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


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
