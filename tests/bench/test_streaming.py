"""Streaming (``--streaming``) artifacts are benchmarked next to whole-sequence rows: per-step latency and state handling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_deploy.bench import BenchConfig, benchmark, write_report
from lstm_deploy.export import ExportConfig, export_model
from tests.zoo import T, seeded, separable_data


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from lstm_deploy.load.modelio import save_model

    d = tmp_path_factory.mktemp("stream_bench")
    k = seeded("tf_keras", seed=2)
    L = k.layers
    model = k.Sequential([k.Input((T, 3)), L.LSTM(6, return_sequences=True), L.LSTM(5), L.Dense(3, activation="softmax")])
    data = separable_data(n=48)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data["x_train"], data["y_train"], epochs=3, verbose=0)
    save_model(model, d / "m.keras")
    np.savez(d / "data.npz", **data)
    export_model(d / "m.keras", d / "art", ExportConfig(formats=("tflite", "onnx")), name="m")
    export_model(d / "m.keras", d / "art", ExportConfig(formats=("tflite", "onnx"), streaming=True), name="m")
    return d


def test_streaming_rows_have_step_latency_state_and_exact_quality(exported, tmp_path):
    d = exported
    report = benchmark([str(d / "m.keras"), str(d / "art")], str(d / "data.npz"),
                       BenchConfig(runtimes=("tflite", "onnxruntime", "keras-function"), warmup=1, repeats=5, max_seconds=0.5))
    rows = {(r["artifact"], r["runtime"]): r for r in report.results}
    for fmt, runtime in (("tflite", "tflite"), ("onnx", "onnxruntime")):
        stream, full = rows[(f"m.fp32.stream.{fmt}", runtime)], rows[(f"m.fp32.{fmt}", runtime)]
        assert stream["status"] == "ok" and full["status"] == "ok", (stream, full)
        assert stream["mode"] == "streaming" and full["mode"] == "sequence"
        assert stream["steps"] == T and 0 < stream["step_p50_ms"] <= stream["step_p99_ms"]
        assert stream["p50_ms"] > stream["step_p50_ms"]  # a whole sequence is T steps
        assert "explicit h/c state (4 tensors" in stream["state"]
        assert full["state"].startswith("reset_all_variables()" if fmt == "tflite" else "stateless")
        assert full.get("step_p50_ms") is None
        # stepping through a sequence answers like the full-sequence artifact and the Keras model
        assert stream["accuracy"] == full["accuracy"] and stream["agreement"] == 1.0 and stream["max_abs_diff"] <= 1e-5
    md = write_report(report, tmp_path)["md"].read_text()
    assert "## Streaming (one time step per call)" in md and "m.fp32.stream.tflite" in md
    saved = json.loads((tmp_path / "report.json").read_text())
    assert {"mode", "state", "steps", "step_p50_ms", "step_p99_ms"} <= set(saved["results"][0])
