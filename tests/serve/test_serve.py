"""``lstm-deploy serve``: right answers under concurrent load, micro-batching, 4xx for bad input, the contract, the CLI."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from .server import LABELS, T, sequences


@pytest.fixture(scope="module")
def servers(served_artifacts, server_factory):
    return {fmt: server_factory(served_artifacts[fmt], "--max-batch", "16", "--max-wait-ms", "5") for fmt in ("tflite", "onnx")}


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_concurrent_requests_get_the_one_at_a_time_answers(served_artifacts, servers, fmt):
    from lstm_deploy.runtime import Model

    server = servers[fmt]
    x = sequences(96, seed=1)
    model = Model.load(served_artifacts[fmt])
    alone = np.stack([model.predict(x[i:i + 1])[0] for i in range(len(x))])
    before = server.get("/healthz")[1]
    with ThreadPoolExecutor(16) as pool:  # 16 clients, one sequence per request
        answers = list(pool.map(lambda i: server.post({"x": x[i].tolist()}), range(len(x))))
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
    got = np.array([body["y"] for _, body in answers], np.float32)
    assert np.abs(got - alone).max() <= 1e-6, np.abs(got - alone).max()
    assert [body["label"] for _, body in answers] == [LABELS[i] for i in alone.argmax(1)]
    after = server.get("/healthz")[1]
    batches, requests = after["batches"] - before["batches"], after["requests"] - before["requests"]
    assert requests == len(x) and batches < requests  # concurrent requests were answered from shared batches


def test_a_batch_request_answers_each_sequence(servers):
    x = sequences(5, seed=2)
    status, body = servers["onnx"].post({"x": x.tolist()})
    assert status == 200 and np.array(body["y"]).shape == (5, 3) and len(body["labels"]) == 5


BAD = [
    (b'{"x": [1, 2', 400, "body is not valid JSON"),
    (b"[1, 2]", 400, 'body is a JSON list; send an object {"x": [...]}'),
    (b'{"y": 1}', 422, "unknown field(s) 'y'"),
    (b"{}", 422, 'missing field "x"'),
    (b'{"x": "hello"}', 422, "x is a JSON str; expected a sequence (6, 3) or a list of them"),
    (json.dumps({"x": np.zeros((T, 2)).tolist()}).encode(), 422, "x has shape [6, 2]; expected one sequence (6, 3)"),
    (json.dumps({"x": np.zeros((2, 5, 3)).tolist()}).encode(), 422, "x has shape [2, 5, 3]"),
    (json.dumps({"x": [[[0.0] * 3] * T, [[0.0] * 3] * (T - 1)]}).encode(), 422, "x is ragged"),
    (json.dumps({"x": [[True] * 3] * T}).encode(), 422, "x holds true/false"),
    (json.dumps({"x": [["a"] * 3] * T}).encode(), 422, "x holds text"),
    (json.dumps({"x": [[None] * 3] * T}).encode(), 422, "x holds nulls"),
    (b'{"x": [[NaN, 0, 0]]}', 422, "body holds NaN; JSON numbers must be finite"),
    (b'{"x": [[Infinity, 0, 0]]}', 422, "body holds Infinity"),
    (json.dumps({"x": [[1e308 * 10, 0, 0]] * T}).encode(), 422, "body holds Infinity"),
    (json.dumps({"x": [[1e39, 0.0, 0.0]] * T}).encode(), 422, "input x[0, 0, 0] is 1e+39; expected finite float32 numbers"),
    (json.dumps({"x": []}).encode(), 422, "x has shape [0]"),
    (json.dumps({"x": np.zeros((300, T, 3)).tolist()}).encode(), 413, "x holds 300 sequences; at most 256 per request"),
]


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_bad_requests_get_a_4xx_with_one_line_and_the_service_keeps_answering(servers, fmt):
    server = servers[fmt]
    for body, status, reason in BAD:
        got_status, got = server.post(body)
        assert (got_status, reason in got.get("error", "")) == (status, True), (body[:60], got_status, got)
        assert "\n" not in got["error"] and len(got["error"]) < 300
    assert server.request("GET", "/predict")[0] == 405
    status, body = server.get("/nope")
    assert status == 404 and "endpoints: POST /predict" in body["error"]
    assert server.post({"x": sequences(1)[0].tolist()})[0] == 200


def test_huge_body_is_refused_before_it_is_read(servers):
    """A declared 1 GB body gets 413 at once: the server does not wait for (or read) it."""
    import http.client

    host, port = servers["onnx"].url.split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/predict")
    conn.putheader("Content-Length", str(10**9))
    conn.endheaders()
    conn.send(b'{"x": [')  # and nothing more
    response = conn.getresponse()
    limit = servers["onnx"].get("/metadata")[1]["service"]["max_body_bytes"]
    assert limit == 256 * T * 3 * 48 + 64 * 1024  # what 256 (6, 3) sequences take as JSON: derived from the model, not 16 MiB
    assert response.status == 413 and f"at most {limit}" in json.loads(response.read())["error"]
    conn.close()
    assert servers["onnx"].post({"x": sequences(1)[0].tolist()})[0] == 200


def test_a_lengths_input_artifact_refuses_pre_padding_per_request(served_artifacts, server_factory):
    from concurrent.futures import ThreadPoolExecutor as Pool

    server = server_factory(served_artifacts["lengths"], "--max-batch", "8", "--max-wait-ms", "20")
    good = np.random.default_rng(4).standard_normal((T, 3)).astype(np.float32)
    good[4:] = 0.0  # post-padded
    bad = good.copy()
    bad[:2] = 0.0  # padding before real steps
    with Pool(4) as pool:  # sent together, so they tend to share a batch; the bad one must not spoil the others
        answers = list(pool.map(lambda seq: server.post({"x": seq.tolist()}), [good, bad, good, good]))
    assert [a[0] for a in answers] == [200, 422, 200, 200]
    assert "padding steps before real steps" in answers[1][1]["error"]


def test_metadata_and_healthz_describe_the_contract(servers):
    status, meta = servers["onnx"].get("/metadata")
    assert status == 200
    assert meta["input"] == {"shape": [T, 3], "dtype": "float32", "range": None, "artifact_dtype": "float32",
                             "batching": "send one sequence, or a list of up to max_request_sequences sequences"}
    assert meta["output"] == {"shape": [3], "dtype": "float32", "labels": LABELS}
    assert meta["masking"]["lengths"] == "derived" and meta["format"] == "onnx" and meta["artifact"] == "clf.fp32.onnx"
    assert meta["service"]["max_batch"] == 16 and meta["state"]["kind"] == "stateless"
    status, health = servers["tflite"].get("/healthz")
    assert status == 200 and health["status"] == "ok" and health["format"] == "tflite"


def test_serve_refuses_what_it_cannot_serve(served_artifacts, tmp_path, capsys):
    from tests.helpers import run_cli

    code, _, err = run_cli(["serve", str(tmp_path / "missing.onnx")], capsys)
    assert code == 2 and "missing.onnx does not exist" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["serve", str(served_artifacts["stream"])], capsys)
    assert code == 2 and "streaming (single-step) artifact; serve runs full-sequence artifacts" in err
    code, _, err = run_cli(["serve", str(served_artifacts["onnx"]), "--max-batch", "0"], capsys)
    assert code == 2 and "--max-batch: Input should be greater than or equal to 1" in err


def test_busy_port_and_sigterm(served_artifacts, server_factory, capsys):
    from tests.helpers import run_cli

    server = server_factory(served_artifacts["onnx"], "--max-batch", "1")
    port = server.url.rsplit(":", 1)[1]
    code, _, err = run_cli(["serve", str(served_artifacts["onnx"]), "--port", port], capsys)
    assert code == 2 and f"--port {port}: cannot listen there" in err, err
    assert server.post({"x": sequences(1)[0].tolist()})[0] == 200
    assert server.stop() == 0  # SIGTERM: graceful shutdown is a success (uvicorn's re-raised signal does not kill it: not -15 / 143)


def test_the_service_imports_no_tensorflow():
    """Every server here starts with ``sys.modules["tensorflow"] = None`` (so a TensorFlow import anywhere in the
    serving path would stop it); this shows the guard bites."""
    import subprocess
    import sys

    from .server import _LAUNCH

    guard = _LAUNCH.split("; from")[0]
    proc = subprocess.run([sys.executable, "-c", guard + "; import tensorflow"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "import of tensorflow halted" in proc.stderr
