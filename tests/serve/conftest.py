"""Fixtures of the serve tests: exported artifacts and servers that are stopped after each module."""

from __future__ import annotations

from pathlib import Path

import pytest

from .server import LABELS, T, Server


@pytest.fixture(scope="session")
def served_artifacts(tmp_path_factory):
    """A masked classifier with class names (TFLite, ONNX, ONNX with a lengths input) and a streaming artifact."""
    from lstm_deploy.export import ExportConfig, export_model
    from tests.zoo import seeded

    k = seeded("tf_keras", seed=3)
    L = k.layers
    model = k.Sequential([k.Input((T, 3)), L.Masking(0.0), L.LSTM(8, return_sequences=True), L.LSTM(6), L.Dense(3, activation="softmax")])
    out = tmp_path_factory.mktemp("served")
    results = export_model(model, out, ExportConfig(formats=("tflite", "onnx")), name="clf", labels=LABELS)
    explicit = export_model(model, out / "explicit", ExportConfig(formats=("onnx",), lengths_input=True), name="clf")
    plain = k.Sequential([k.Input((T, 3)), L.LSTM(4), L.Dense(2)])
    stream = export_model(plain, out, ExportConfig(formats=("onnx",), streaming=True), name="plain")
    return {r.format: r.artifact for r in results} | {"stream": stream[0].artifact, "lengths": explicit[0].artifact}


@pytest.fixture(scope="module")
def server_factory():
    servers: list[Server] = []

    def start(artifact: Path, *options: str) -> Server:
        servers.append(Server(artifact, *options))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
