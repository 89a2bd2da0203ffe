"""``lstm-deploy serve`` on a captioner exported as one model (inputs ``image`` and ``tokens``): requests, batching, 422s, metadata."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.serve.server import Server
from tests.zoo import CAP_IMAGE, CAP_LEN, CAP_VOCAB, CAPTION_ZOO, keras_module


def _inputs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` images and post-padded caption prefixes (token ids 1..CAP_VOCAB-1, then padding 0)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, CAP_VOCAB, (n, CAP_LEN)).astype(np.int32)
    for i in range(n):
        tokens[i, rng.integers(1, CAP_LEN + 1):] = 0
    return {"image": rng.standard_normal((n, *CAP_IMAGE)).astype(np.float32), "tokens": tokens}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The merge captioner's fp32 .tflite and .onnx artifacts (exported with per-input data)."""
    from lstm_deploy.export import ExportConfig, export_model
    from lstm_deploy.load import flavours as bridge

    tmp = tmp_path_factory.mktemp("cap_serve")
    model = CAPTION_ZOO["merge_captioner"](keras_module("keras3"))
    x = _inputs(16)
    y = bridge.predict(model, x).argmax(-1)
    np.savez(tmp / "data.npz", **{f"x_{part}__{k}": v for part in ("train", "test") for k, v in x.items()}, y_train=y, y_test=y)
    results = export_model(model, tmp / "out", ExportConfig(formats=("tflite", "onnx"), quantize=("fp32",)), data=tmp / "data.npz", name="cap")
    assert all(r.passed for r in results)
    return {r.format: r.artifact for r in results}


@pytest.fixture(scope="module")
def servers(artifacts):
    started = {fmt: Server(artifacts[fmt], "--max-batch", "8", "--max-wait-ms", "20", "--max-request-sequences", "4")
               for fmt in ("tflite", "onnx")}
    yield started
    for server in started.values():
        server.stop()


def _body(x: dict[str, np.ndarray]) -> dict:
    return {"x": {k: v.tolist() for k, v in x.items()}}


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_a_batch_and_a_single_sample_answer_what_the_runtime_answers(artifacts, servers, fmt):
    from lstm_deploy.runtime import Model

    model, x = Model.load(artifacts[fmt]), _inputs(3, seed=1)
    status, body = servers[fmt].post(_body(x))
    assert status == 200, body
    assert np.array_equal(np.array(body["y"], np.float32), model.predict(x)) and "labels" not in body
    one = {k: v[1] for k, v in x.items()}  # no batch axis: one sample answers one y
    status, body = servers[fmt].post(_body(one))
    assert status == 200, body
    assert np.array_equal(np.array(body["y"], np.float32), model.predict({k: v[None] for k, v in one.items()})[0])


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_concurrent_requests_batched_together_get_their_own_rows(artifacts, servers, fmt):
    from lstm_deploy.runtime import Model

    server, x = servers[fmt], _inputs(24, seed=2)
    model = Model.load(artifacts[fmt])
    alone = np.stack([model.predict({k: v[i:i + 1] for k, v in x.items()})[0] for i in range(24)])
    sizes = [1, 2, 3, 1, 4, 2, 3, 1, 2, 1, 3, 1]  # 24 samples in 12 requests of 1..4
    starts = np.cumsum([0, *sizes[:-1]])
    before = server.get("/healthz")[1]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda i: server.post(_body({k: v[starts[i]:starts[i] + sizes[i]] for k, v in x.items()})),
                                range(len(sizes))))
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
    got = np.concatenate([np.array(body["y"], np.float32) for _, body in answers])
    assert got.shape == alone.shape and np.abs(got - alone).max() <= 1e-6, np.abs(got - alone).max()
    after = server.get("/healthz")[1]
    assert after["requests"] - before["requests"] == 12 and after["sequences"] - before["sequences"] == 24
    assert after["batches"] - before["batches"] < 12  # requests shared batches


def _bad_cases(token_high: int) -> list[tuple[dict, int, str]]:
    x = _inputs(3, seed=3)
    image, tokens = x["image"].tolist(), x["tokens"].tolist()
    shown = ", ".join(map(str, CAP_IMAGE))
    return [
        ({"x": {"image": image[0]}}, 422, "x has no input 'tokens'; cap.fp32."),
        ({"x": {"image": image[0], "tokens": tokens[0], "words": [1]}}, 422, "x has unknown input(s) 'words'"),
        ({"x": {"image": image, "tokens": tokens[:2]}}, 422, "inputs hold different numbers of samples (image: 3, tokens: 2)"),
        ({"x": {"image": image[0], "tokens": tokens[:1]}}, 422, "inputs hold different numbers of samples (image: one sample, tokens: 1)"),
        ({"x": {"image": np.zeros((2, 4, 4, 3)).tolist(), "tokens": tokens[:2]}}, 422,
         f"x['image'] has shape [2, 4, 4, 3]; expected one sample ({shown})"),
        ({"x": {"image": image[0], "tokens": [1, 2, token_high + 1, 0, 0]}}, 422,
         f"input 'tokens' holds {token_high + 1}; it takes values from 0 to {token_high}"),
        ({"x": {"image": image[0], "tokens": [1, -1, 0, 0, 0]}}, 422, "input 'tokens' holds -1"),
        ({"x": {"image": image[0], "tokens": [1, 2.5, 0, 0, 0]}}, 422, "input 'tokens' holds fractions"),
        ({"x": {"image": image[0], "tokens": "a cat on a mat"}}, 422, "x['tokens'] is a JSON str"),
        ({"x": {"image": image[0], "tokens": ["a", "cat", "on", "a", "mat"]}}, 422, "x['tokens'] holds text"),
        ({"x": {"image": "cat.png", "tokens": tokens[0]}}, 422, "x['image'] is a JSON str"),
        ({"x": image[0]}, 422, 'x is a JSON list; cap.fp32.'),
        ({"x": {"image": [], "tokens": []}}, 422, "x['image'] has shape [0]"),
        ({"x": {"image": np.full(CAP_IMAGE, 1e39).tolist(), "tokens": tokens[0]}}, 422, "input 'image' holds non-finite values"),
        ({"x": {"image": np.zeros((5, *CAP_IMAGE)).tolist(), "tokens": np.ones((5, CAP_LEN)).tolist()}}, 413,
         "x holds 5 samples; at most 4 per request"),
    ]


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_bad_requests_get_a_422_naming_the_input(artifacts, servers, fmt):
    server = servers[fmt]
    high = json.loads(artifacts[fmt].with_name(artifacts[fmt].name + ".json").read_text())["input_ranges"]["tokens"][1]
    assert high == CAP_VOCAB - 1
    for payload, status, reason in _bad_cases(high):
        got_status, got = server.post(payload)
        assert (got_status, reason in got.get("error", "")) == (status, True), (str(payload)[:80], got_status, got)
        assert "\n" not in got["error"] and len(got["error"]) < 300
    assert server.post(_body({k: v[0] for k, v in _inputs(1).items()}))[0] == 200  # the service keeps answering


def test_metadata_lists_every_input(servers):
    status, meta = servers["onnx"].get("/metadata")
    assert status == 200
    assert meta["inputs"] == [
        {"name": "image", "shape": list(CAP_IMAGE), "dtype": "float32", "range": None, "artifact_dtype": "float32"},
        {"name": "tokens", "shape": [CAP_LEN], "dtype": "int32", "range": [0, CAP_VOCAB - 1], "artifact_dtype": "int32"},
    ]
    assert meta["input"]["names"] == ["image", "tokens"] and "shape" not in meta["input"]
    assert meta["input"]["body"] == '{"x": {"image": ..., "tokens": ...}}'
    assert meta["output"] == {"shape": [CAP_VOCAB], "dtype": "float32", "labels": None}
    assert meta["artifact"] == "cap.fp32.onnx" and meta["service"]["max_request_sequences"] == 4
