"""Tests for the bug classes the 0.2.0 suite missed (issue 26), each against a reference computed apart.

Fast tier: hand-built ONNX graphs (ONNX Runtime runs them; no TensorFlow), pure asyncio, /proc.
The breakage each test was seen to catch is named in its docstring ("caught: ...").

* runtime: z-score / min-max forecasts mapped back to series units (reference: the manifest's
  ``center``/``scale`` applied by hand to a graph that returns its input's last step);
* serve: a cancelled request must not shift the rows of the requests after it in a batch;
* generation: beam search = brute force over every caption of a tiny bigram decoder; greedy
  stops at the end token;
* bench: peak memory in MiB (reference: the worker process's ``VmHWM`` read by this process);
* QAT: the simulated weights and activations have at most 256 levels (8 bits, not 16);
* TFLite: the cell clip read through the flatbuffer schema's object API (TensorFlow's generated
  schema; the writer uses ai-edge-litert's schema and a vtable slot constant).
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- hand-built ONNX graphs


def _onnx_bytes(nodes, inputs, outputs, initializers=()) -> bytes:
    from onnx import helper

    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def _last_step_model(steps: int, manifest: dict, preprocess: bool = True):
    """An ONNX model ``(n, steps, 1) -> (n, 1)`` returning each sequence's last value: y = x[:, -1, 0]."""
    from onnx import TensorProto, helper, numpy_helper

    from lstm_deploy.runtime import Model

    pick = np.zeros((steps, 1), np.float32)
    pick[-1, 0] = 1.0
    data = _onnx_bytes(
        [helper.make_node("Flatten", ["x"], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "pick"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", steps, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1])],
        [numpy_helper.from_array(pick, "pick")])
    return Model(data, {"format": "onnx", "input_name": "x", "output_name": "y", **manifest}, name="forecast.onnx", preprocess=preprocess)


@pytest.mark.parametrize("normalize", ["zscore", "minmax"])
def test_runtime_maps_forecasts_back_to_series_units(normalize):
    """The artifact sees ``(x - center) / scale`` and forecasts in those units; ``predict`` answers in the series' units.

    The graph returns its input's last step, so in series units the right answer is the raw last value.
    Caught: ``finish_outputs`` returning ``y`` unchanged for zscore/minmax (answers were (x - c) / s).
    """
    rng = np.random.default_rng(0)
    raw = (rng.standard_normal((7, 5, 1)) * 40.0 + 900.0).astype(np.float32)  # e.g. passengers per month
    series = raw.ravel()
    center, scale = ((float(series.mean()), float(series.std())) if normalize == "zscore"
                     else (float(series.min()), float(series.max() - series.min())))
    manifest = {"preprocessing": {"normalize": normalize, "center": center, "scale": scale, "window": 5, "horizon": 1}}
    got = _last_step_model(5, manifest).predict(raw)
    np.testing.assert_allclose(got, raw[:, -1, :], rtol=1e-5)  # by hand: the last value, in passengers
    inner = _last_step_model(5, manifest, preprocess=False).predict((raw - center) / scale)
    np.testing.assert_allclose(inner, (raw[:, -1, :] - center) / scale, rtol=1e-4, atol=1e-5)  # the graph itself: normalized units


# ---------------------------------------------------------------- serve: a cancelled request in a micro-batch


def test_cancelled_request_does_not_shift_later_rows():
    """Three clients share one batch; the middle one goes away (real task cancellation) before the batch runs.

    Each remaining client must get exactly f(its own rows) (f = row sum times 10, computed here).
    Caught: advancing the batch offset only for requests still waiting (the third client got
    the second's rows).
    """
    from lstm_deploy.serve.batching import MicroBatcher

    def predict(x: np.ndarray) -> np.ndarray:
        time.sleep(0.05)  # the cancellation may also land while the batch computes
        return x.reshape(len(x), -1).sum(axis=1) * 10.0

    xs = [np.full((n, 3), v, np.float32) for n, v in ((2, 1.0), (3, 2.0), (1, 3.0), (2, 4.0))]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=64, max_wait_ms=100)
        await batcher.start()
        try:
            tasks = [asyncio.create_task(batcher.submit(x)) for x in xs]
            await asyncio.sleep(0.01)  # all four queued, the batch still gathering
            tasks[1].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            return results, dict(batcher.stats)
        finally:
            await batcher.stop()

    results, stats = asyncio.run(scenario())
    assert isinstance(results[1], asyncio.CancelledError)
    assert stats["batches"] == 1  # they did share a batch
    for i in (0, 2, 3):
        np.testing.assert_array_equal(results[i], xs[i].sum(axis=1) * 10.0)


# ---------------------------------------------------------------- generation: beam search and greedy stopping

START, END, PAD = 1, 2, 0


def _bigram_captioner(table: np.ndarray, prefix_length: int):
    """(encoder, decoder) ONNX pair: the decoder's next-word distribution is ``table[previous token]``.

    No state, no image features: a caption's probability is the product of its bigram entries,
    which lets a brute force enumerate every caption's exact log-probability.
    """
    from onnx import TensorProto, helper, numpy_helper

    from lstm_deploy.runtime import Model

    vocab = table.shape[0]
    enc = _onnx_bytes([helper.make_node("Identity", ["image"], ["features"])],
                      [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 2])],
                      [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", 2])])
    dec = _onnx_bytes([helper.make_node("Gather", ["table", "token"], ["probs"], axis=0)],
                      [helper.make_tensor_value_info("token", TensorProto.INT32, ["n"])],
                      [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", vocab])],
                      [numpy_helper.from_array(table.astype(np.float32), "table")])
    wiring = {"role": "decoder", "image_input": "image", "token_input": "token", "output": "probs", "states": [], "features": [],
              "start": START, "end": END, "prefix_length": prefix_length, "never": [PAD]}
    encoder = Model(enc, {"format": "onnx", "input_name": "image", "output_name": "features"}, name="cap.encoder.onnx")
    decoder = Model(dec, {"format": "onnx", "input_name": "token", "output_name": "probs", "captioner": wiring}, name="cap.decoder.onnx")
    return encoder, decoder


def _brute_force(table: np.ndarray, cap: int) -> tuple[list[int], float]:
    """The most likely caption by enumeration: words then END within ``cap`` steps, or ``cap`` words cut at the cap."""
    with np.errstate(divide="ignore"):
        logp = np.log(np.asarray(table, np.float64))
    words = [t for t in range(table.shape[0]) if t not in (PAD, END)]
    best: tuple[float, list[int]] = (-np.inf, [])
    for length in range(cap + 1):
        for caption in itertools.product(words, repeat=length):
            path = [START, *caption]
            score = sum(logp[a, b] for a, b in zip(path, path[1:]))
            if length < cap:
                score += logp[path[-1], END]  # finished with the end token
            if score > best[0]:
                best = (score, list(caption))
    return best[1], best[0]


def _table(rng: np.random.Generator, vocab: int) -> np.ndarray:
    t = rng.random((vocab, vocab)) ** 3 + 1e-3
    t[:, PAD] = 0.0  # padding is never a word
    return t / t.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(6))
def test_wide_beam_equals_brute_force(seed):
    """A beam as wide as the whole search space returns the brute-force optimum on random bigram tables.

    Caught: ``generate`` returning ``min(finished)`` (the lowest-scoring caption).
    """
    from lstm_deploy.runtime import generate

    cap = 3
    table = _table(np.random.default_rng(seed), 6)
    enc, dec = _bigram_captioner(table, cap)
    assert generate(enc, dec, np.zeros(2, np.float32), beam=64, max_len=cap) == _brute_force(table, cap)[0]


def test_beam_search_finds_the_most_likely_caption():
    """Greedy falls into a trap (the likeliest first word leads nowhere); beam 2 and the brute force do not.

    Caught: ``generate`` returning ``min(finished)`` (the lowest-scoring caption).
    """
    from lstm_deploy.runtime import generate

    vocab, cap = 5, 3
    table = _table(np.random.default_rng(0), vocab)
    # a trap for greedy: START -> 3 is the likeliest first word, but every caption through 3 is poor
    table[START] = [0.0, 0.0, 0.05, 0.55, 0.4]
    table[3] = [0.0, 0.34, 0.33, 0.0, 0.33]
    table[3, 3] = 0.0
    table[4] = [0.0, 0.0, 0.95, 0.02, 0.03]
    enc, dec = _bigram_captioner(table, cap)
    image = np.zeros(2, np.float32)
    expected, _ = _brute_force(table, cap)
    assert expected == [4]
    assert generate(enc, dec, image, beam=64, max_len=cap) == expected
    assert generate(enc, dec, image, beam=2, max_len=cap) == expected
    assert generate(enc, dec, image, beam=1, max_len=cap) != expected  # the table really separates greedy from the optimum


def test_greedy_stops_at_the_end_token():
    """A decoder that says END right after its first word: the caption is that one word, not max_len words.

    Caught: the end token never checked (greedy ran to the length cap: [3, 2, 3, 2, 3, 2]).
    """
    from lstm_deploy.runtime import generate

    table = np.full((5, 5), 0.01, np.float32)
    table[:, PAD] = 0.0
    table[START, 3] = 0.9
    table[3, END] = 0.9
    table[END, 3] = 0.9  # what comes after END, were it not the end
    table /= table.sum(axis=1, keepdims=True)
    enc, dec = _bigram_captioner(table, 6)
    assert generate(enc, dec, np.zeros(2, np.float32)) == [3]
    assert generate(enc, dec, np.zeros(2, np.float32), beam=3) == [3]


# ---------------------------------------------------------------- bench: peak memory in MiB

_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from lstm_deploy.bench.worker import peak_rss_mb
    block = np.ones(300 * 2**20, np.uint8)  # 300 MiB, touched
    print(peak_rss_mb(), flush=True)
    sys.stdin.readline()
""")


def test_peak_memory_is_in_mib():
    """The worker's figure against its ``VmHWM`` read from ``/proc/<pid>/status`` by this process (kB / 1024).

    Caught: ``peak_rss_mb`` returning kB (300 MiB reported as ~330,000 'MiB').
    """
    proc = subprocess.Popen([sys.executable, "-c", _CHILD], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        reported = float(proc.stdout.readline())
        status = open(f"/proc/{proc.pid}/status", encoding="ascii").read()
        hwm_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
    finally:
        proc.communicate("\n", timeout=60)
    assert reported == pytest.approx(hwm_kb / 1024.0, rel=0.02)
    assert 300 <= reported < 2000  # the 300 MiB block is in it, and it is MiB


# ---------------------------------------------------------------- QAT: 8-bit simulation


def test_qat_weight_and_activation_fake_quantization_is_8_bit():
    """Fake-quantized tensors take at most 256 distinct values (255 for symmetric weights) per scale block.

    Random float32 values have thousands of distinct values; 16-bit simulation keeps them.
    Caught: ``INT8_MAX = 32767.0`` and ``fake_quant_range(num_bits=16)``.
    """
    from lstm_deploy.compress.qat.fakequant import fake_quant_range, quantize_weight_np, quantize_weight_tf

    w = np.random.default_rng(0).standard_normal((64, 4 * 16)).astype(np.float32)
    for blocks, per_channel, n_blocks in ((1, False, 1), (4, False, 4), (1, True, 64)):
        cols = w.shape[1] // n_blocks
        for q in (quantize_weight_np(w, blocks=blocks, per_channel=per_channel),
                  np.asarray(quantize_weight_tf(w, blocks=blocks, per_channel=per_channel))):
            for b in range(n_blocks):
                part = q[:, b * cols:(b + 1) * cols]
                levels = np.unique(part)
                assert len(levels) <= 255, (blocks, per_channel, len(levels))
                step = np.abs(w[:, b * cols:(b + 1) * cols]).max() / 127.0  # the int8 grid step, by hand
                np.testing.assert_allclose(levels / step, np.round(levels / step), atol=1e-3)
    x = np.linspace(-3.0, 5.0, 20001, dtype=np.float32)
    fq = np.asarray(fake_quant_range(x, np.float32(-3.0), np.float32(5.0)))
    assert 200 < len(np.unique(fq)) <= 256


# ---------------------------------------------------------------- TFLite: the cell clip read through the schema


def _cell_clips_by_schema(data: bytes) -> list[float]:
    """Every fused LSTM operator's cell clip, read with TensorFlow's generated flatbuffer object API (not the writer's code)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    clips = []
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
            if name.endswith("LSTM"):
                clips.append(float(op.builtinOptions.cellClip))
    return clips


def test_cell_clip_through_the_flatbuffer_schema():
    """fp32 exports store cell_clip 0 (no clip), int8 keeps the converter's 10, read field by name through the schema.

    Tier: fast (two conversions of an LSTM(3), ~3 s). Caught: ``_CELL_CLIP_SLOT = 8`` (the writer patched the
    proj_clip field; the writer's own reader, sharing the constant, still said 0.0).
    """
    import tf_keras

    from lstm_deploy.export.convert import convert

    model = tf_keras.Sequential([tf_keras.Input((6, 2)), tf_keras.layers.LSTM(3), tf_keras.layers.Dense(2)])
    fp32 = convert(model, "tflite", "fp32").data
    int8 = convert(model, "tflite", "int8", calibration=np.random.default_rng(0).standard_normal((4, 6, 2)).astype(np.float32)).data
    assert _cell_clips_by_schema(int8) == [10.0]  # the reader sees the converter's clip...
    assert _cell_clips_by_schema(fp32) == [0.0]   # ...and that the float export removed it
    from tensorflow.lite.python import schema_py_generated as schema

    op = schema.ModelT.InitFromPackedBuf(bytearray(fp32), 0).subgraphs[0].operators
    options = next(o.builtinOptions for o in op if hasattr(o.builtinOptions, "cellClip"))
    assert options.projClip == 0.0 and options.timeMajor in (False, 0)  # the neighbouring fields untouched
