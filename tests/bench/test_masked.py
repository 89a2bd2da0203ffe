"""Masked exports (exactly the model's input, padding found in the graph) are benchmarked, not skipped, with exact accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.bench import BenchConfig, benchmark
from lstm_deploy.export import ExportConfig, export_model


@pytest.fixture(scope="module")
def masked_export(tmp_path_factory, keras3):
    d = tmp_path_factory.mktemp("masked")
    L = keras3.layers
    keras3.utils.set_random_seed(3)
    model = keras3.Sequential([keras3.Input((8,), dtype="int32"), L.Embedding(20, 4, mask_zero=True), L.LSTM(5), L.Dense(2, activation="softmax")])
    model.save(d / "masked.keras")
    rng = np.random.default_rng(0)

    def tokens(n):
        x = rng.integers(1, 20, size=(n, 8)).astype(np.int32)
        for i, length in enumerate(rng.integers(2, 9, size=n)):
            x[i, length:] = 0  # post-padding
        return x

    x_test = tokens(12)
    y_test = model.predict(x_test, verbose=0).argmax(-1)  # labels = the model's own answers -> accuracy 1.0
    np.savez(d / "data.npz", x_train=tokens(16), y_train=rng.integers(0, 2, 16), x_test=x_test, y_test=y_test)
    export_model(d / "masked.keras", d / "art", ExportConfig(formats=("tflite", "onnx"), quantize=("fp32",)), data=d / "data.npz")
    return d


def test_masked_artifacts_are_timed_with_exact_accuracy(masked_export):
    d = masked_export
    report = benchmark([str(d / "art")], str(d / "data.npz"), BenchConfig(runtimes=("tflite", "onnxruntime"), warmup=1, repeats=5, max_seconds=0.5))
    rows = {r["runtime"]: r for r in report.results}
    assert set(rows) == {"tflite", "onnxruntime"}
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["accuracy"] == 1.0 and row["p50_ms"] > 0
