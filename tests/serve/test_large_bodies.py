"""``serve`` stays responsive under large bodies (issue 25): the body limit follows from the artifact's input size,
parsing and checks run off the event loop, and memory stays bounded.

Tier: fast (one real ``lstm-deploy serve`` process on 127.0.0.1; every loop is bounded).
"""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import pytest

from .server import T, sequences

ROWS = 2_100_000  # ~14.7 MB of one-number rows: under the 16 MiB cap, far over what 256 (6, 3) sequences take


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _big_body() -> bytes:
    return b'{"x": [' + b"[0.25]," * (ROWS - 1) + b"[0.25]]}"


def _post_big(url: str, body: bytes, chunked: bool, result: dict) -> None:
    host, port = url.split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    start = time.monotonic()
    try:
        if chunked:  # no Content-Length: the limit must bite while the body streams in
            conn.request("POST", "/predict", body=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]), encode_chunked=True)
        else:
            conn.request("POST", "/predict", body=body)
        response = conn.getresponse()
        result["status"], result["body"] = response.status, response.read()
    except (ConnectionError, http.client.HTTPException) as exc:  # the server may close the connection once it has answered 413
        result["status"], result["body"] = "closed", repr(exc).encode()
    finally:
        result["seconds"] = time.monotonic() - start
        conn.close()


@pytest.fixture(scope="module")
def server(served_artifacts, server_factory):
    return server_factory(served_artifacts["onnx"], "--max-wait-ms", "1")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_16_mib_body_of_tiny_rows_blocks_no_other_request(server, chunked):
    body = _big_body()
    assert 14 * 2**20 < len(body) < 16 * 2**20
    small = {"x": sequences(1)[0].tolist()}
    assert server.post(small)[0] == 200  # warm
    rss_before = _peak_rss_mb(server.proc.pid)
    result: dict = {}
    sender = threading.Thread(target=_post_big, args=(server.url, body, chunked, result))
    sender.start()
    latencies = []
    deadline = time.monotonic() + 20
    while sender.is_alive() and time.monotonic() < deadline:  # bounded: 20 s at most
        t0 = time.monotonic()
        status, _ = server.post(small)
        latencies.append(time.monotonic() - t0)
        assert status == 200
    sender.join(30)
    growth = _peak_rss_mb(server.proc.pid) - rss_before
    print(f"\n{len(body)} bytes ({'chunked' if chunked else 'Content-Length'}): {result.get('status')} after {result.get('seconds', 0):.3f} s; "
          f"{len(latencies)} other requests meanwhile, slowest {max(latencies, default=0):.3f} s; peak RSS +{growth:.1f} MB")  # pytest -s
    assert result.get("status") in (413, "closed"), result
    if result["status"] == 413:
        assert b"bytes" in result["body"] and b"286720" in result["body"]  # the limit named: 256 (6, 3) sequences as JSON
    assert result["seconds"] < 10, result["seconds"]
    assert not latencies or max(latencies) < 1.0, max(latencies)  # issue 25: ~8 s blocked before
    assert growth < 100  # issue 25: the process went to 700 MB
    assert server.post(small)[0] == 200


def test_a_batch_within_the_derived_limit_is_answered(server):
    """The derived limit is not too tight: 256 sequences written with full float precision and indentation pass."""
    import json

    import numpy as np

    x = np.random.default_rng(0).standard_normal((256, T, 3)) * 1e-300  # long numbers: '-1.2345678901234567e-300'
    body = json.dumps({"x": x.tolist()}, indent=2).encode()
    limit = server.get("/metadata")[1]["service"]["max_body_bytes"]
    assert len(body) < limit
    status, answer = server.post(body)
    assert status == 200 and len(answer["y"]) == 256
