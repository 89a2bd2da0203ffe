"""One ``runtime.Model`` shared by many threads gives exactly the sequential answers, for every format.

A LiteRT interpreter is not safe to share: without the runtime's interpreter pool, 8 threads
predicting single sequences on one ``.tflite`` model get other sequences' outputs or a
state left by another call, with no error. The same hammer runs on ONNX Runtime (whose
sessions are thread-safe), on a pool of two interpreters and on streaming artifacts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

T_LONG, FEATURES = 24, 8
THREADS, CALLS = 8, 240


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A mid-size LSTM (long enough invocations for threads to overlap), full-sequence and streaming, both formats."""
    from lstm_deploy.export import ExportConfig, export_model
    from tests.zoo import seeded

    k = seeded("tf_keras", seed=1)
    L = k.layers
    model = k.Sequential([k.Input((T_LONG, FEATURES)), L.LSTM(48, return_sequences=True), L.LSTM(32), L.Dense(4, activation="softmax")])
    out = tmp_path_factory.mktemp("concurrency")
    full = export_model(model, out, ExportConfig(formats=("tflite", "onnx")), name="m")
    stream = export_model(model, out, ExportConfig(formats=("tflite", "onnx"), streaming=True), name="m")
    return {(r.format, r.streaming): r.artifact for r in full + stream}


def _inputs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, T_LONG, FEATURES)).astype(np.float32)


def _hammer(fn, n: int) -> list:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(fn, range(n)))


@pytest.mark.parametrize("fmt,concurrency", [("tflite", 1), ("tflite", 2), ("onnx", 1)])
def test_shared_model_predicts_exactly_the_sequential_answers(artifacts, fmt, concurrency):
    from lstm_deploy.runtime import Model

    model = Model.load(artifacts[(fmt, False)], concurrency=concurrency)
    x = _inputs(CALLS)
    sequential = np.stack([model.predict(x[i:i + 1])[0] for i in range(CALLS)])
    # single sequences and, every 10th call, a batch of three: all from 8 threads at once
    got = _hammer(lambda i: model.predict(x[i:i + 3]) if i % 10 == 0 else model.predict(x[i:i + 1]), CALLS)
    wrong = [i for i, y in enumerate(got) if not np.array_equal(y, sequential[i:i + len(y)])]
    assert not wrong, f"{fmt}: {len(wrong)} of {CALLS} concurrent calls differ from the sequential answers (first: {wrong[:5]})"
    assert model.concurrency == (None if fmt == "onnx" else concurrency)


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_streams_on_a_shared_model_keep_their_own_state(artifacts, fmt):
    from lstm_deploy.runtime import Model

    model = Model.load(artifacts[(fmt, True)])
    x = _inputs(16, seed=1)

    def run(i: int) -> np.ndarray:
        stream = model.stream()  # one Stream per sequence source; the Model is shared
        return np.stack([stream.step(x[i, t]) for t in range(T_LONG)])

    sequential = [run(i) for i in range(len(x))]
    got = _hammer(run, len(x))
    assert all(np.array_equal(a, b) for a, b in zip(got, sequential))
    full = Model.load(artifacts[(fmt, False)]).predict(x)
    assert np.abs(np.stack(got)[:, -1] - full).max() <= 1e-5


def test_an_unshared_interpreter_really_goes_wrong(artifacts):
    """The hazard the pool removes: the bare LiteRT signature runner shared by 8 threads mixes calls up."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(artifacts[("tflite", False)]))
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner()
    x = _inputs(CALLS, seed=2)

    def bare(i: int) -> np.ndarray:
        interpreter.reset_all_variables()
        return np.array(runner(x=x[i:i + 1])["output"])[0]

    sequential = np.stack([bare(i) for i in range(CALLS)])
    wrong = 0
    for _ in range(5):  # the race needs overlapping invocations; a few rounds make it show on a loaded machine too
        wrong += sum(not np.array_equal(y, sequential[i]) for i, y in enumerate(_hammer(bare, CALLS)))
        if wrong:
            break
    assert wrong > 0


def test_concurrency_option_is_checked(artifacts):
    from lstm_deploy.runtime import Model, RuntimeError_

    with pytest.raises(RuntimeError_, match="concurrency: expected a whole number >= 1 of interpreters, got 0"):
        Model.load(artifacts[("tflite", False)], concurrency=0)
