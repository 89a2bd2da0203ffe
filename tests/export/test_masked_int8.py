"""Full-integer int8 TFLite of masked models: fused, parity-gated, exact about the padding (fast tier, tiny models).

The int8 graph reads the padding from an integer input the converter never quantizes (the
``mask_zero`` token ids, or the int32 ``lengths`` input of a ``Masking`` model) and keeps the mask
in int32 / boolean ops. "Exact about the padding" is checked bit for bit: the same real tokens
post-padded, pre-padded or with gaps give the same int8 outputs, and garbage in the padded steps of
a ``lengths``-input artifact changes nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.errors import UnsupportedLayerError
from lstm_deploy.export import ExportConfig, convert, export_model, load_artifact
from lstm_deploy.runtime import Model
from tests.export.test_masked_inputs import relayout
from tests.zoo import seeded

T, VOCAB = 10, 20


def _tokens(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Post-padded token ids; the class is whether low ids (1..9) outnumber high ones among the real tokens."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, (n, T)).astype(np.int32)
    lengths = rng.integers(1, T + 1, n)
    for i, length in enumerate(lengths):
        x[i, length:] = 0
    real = x > 0
    y = ((x < VOCAB // 2) & real).sum(1) > ((x >= VOCAB // 2) & real).sum(1)
    return x, y.astype(np.int64)


def _lstm_input_types(data: bytes) -> list[str]:
    """The element type of each fused LSTM op's first input (int8 for the integer kernel)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    return [np.dtype(tensors[op["inputs"][0]]["dtype"]).name for op in interp._get_ops_details()
            if op["op_name"] == "UNIDIRECTIONAL_SEQUENCE_LSTM"]


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    k = seeded("keras3", seed=1)
    L = k.layers
    model = k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(VOCAB, 8, mask_zero=True), L.LSTM(12, return_sequences=True),
                          L.LSTM(8), L.Dense(2, activation="softmax")])
    x, y = _tokens(400, 0)
    model.compile(k.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    model.fit(x[:300], y[:300], epochs=12, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("masked_int8") / "d.npz"
    np.savez(path, x_train=x[:300], y_train=y[:300], x_test=x[300:], y_test=y[300:])
    return model, path, x[300:], y[300:]


def test_mask_zero_text_model_exports_fused_int8_exact_about_padding(text, tmp_path):
    model, path, x, y = text
    (r,) = export_model(model, tmp_path, ExportConfig(formats=("tflite",), quantize=("int8",)), data=path, name="text")
    assert r.passed and r.fused and r.artifact is not None  # the export's own int8 parity gate
    data = r.artifact.read_bytes()
    assert _lstm_input_types(data) == ["int8", "int8"]  # two integer LSTM kernels, not float ones
    loaded = Model.load(r.artifact)
    post = loaded.predict(x)
    moved = relayout(x, 0, seed=3)  # the same tokens pre-padded / with gaps, one row all padding
    got = loaded.predict(moved)
    np.testing.assert_array_equal(got[:-1], post[:-1])  # bit for bit: int8 rounding never touches which steps count
    keras = np.asarray(model(x, training=False))
    float_acc, int8_acc = float(np.mean(keras.argmax(-1) == y)), float(np.mean(post.argmax(-1) == y))
    assert float_acc >= 0.8 and int8_acc >= float_acc - 0.03, (float_acc, int8_acc)
    np.testing.assert_array_equal(got[-1], loaded.predict(np.zeros((1, T), np.int32))[0])  # all padding: the Dense of zero state


def test_masking_model_int8_needs_the_lengths_input_and_ignores_padded_values():
    k = seeded("tf_keras", seed=2)
    L = k.layers
    model = k.Sequential([k.Input((T, 3)), L.Masking(0.0), L.LSTM(6), L.Dense(2)])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, T, 3)).astype(np.float32)
    with pytest.raises(UnsupportedLayerError, match="--lengths-input"):
        convert(model, "tflite", "int8", calibration=x[:20])
    from lstm_deploy.export.plan import build_plan

    art = convert(build_plan(model, lengths_input=True), "tflite", "int8", calibration=x[:20])
    assert art.fused and _lstm_input_types(art.data) == ["int8"]
    lengths = rng.integers(0, T + 1, 40).astype(np.int32)
    clean = x.copy()
    for i, n in enumerate(lengths):
        clean[i, n:] = 0.0
    garbage = clean.copy()
    for i, n in enumerate(lengths):
        garbage[i, n:] = rng.standard_normal((T - n, 3))  # what sits in padded steps must not matter
    rt = load_artifact(art)
    np.testing.assert_array_equal(rt.predict(clean, lengths=lengths), rt.predict(garbage, lengths=lengths))


def test_qat_int8_trains_a_mask_zero_model_and_its_artifact_is_the_simulated_one(text):
    """QAT for full int8 no longer refuses Embedding(mask_zero): its simulation predicts what the masked int8 artifact does."""
    from lstm_deploy.compress.qat import QatConfig, quantize_aware_train
    from lstm_deploy.load.dataset import load_data

    model, path, _x, _y = text
    res = quantize_aware_train(model, load_data(path), QatConfig(steps=4, batch_size=32))
    (row,) = res.report.modes
    assert row.mode == "tflite-int8" and row.simulation_agreement is not None and row.simulation_agreement >= 0.95, row
    assert row.qat_metric >= row.float_metric - 0.03 and res.report.choice is not None


@pytest.mark.parametrize("name", ["merge_captioner", "inject_captioner"])
def test_captioners_export_full_int8_fused_and_exact_about_padding(name, tmp_path):
    """Two inputs (float image, int32 caption prefix): every input calibrated by name, the prefix mask kept integer."""
    from lstm_deploy.metrics import rel_error
    from tests.zoo import CAPTION_ZOO, caption_dataset

    model = CAPTION_ZOO[name](seeded("tf_keras", seed=3))
    ds = caption_dataset()
    (r,) = export_model(model, tmp_path, ExportConfig(formats=("tflite",), quantize=("int8",), max_metric_drop=1.0), data=ds, name=name)
    assert r.fused and r.artifact is not None and _lstm_input_types(r.artifact.read_bytes()) == ["int8"]
    loaded = Model.load(r.artifact)
    got = loaded.predict(ds.x_test)
    keras = model.predict(ds.x_test, verbose=0)
    # untrained (near-uniform) probabilities in int8 output steps of 1/256: measured rel. error 0.055 / 0.066
    assert rel_error(got, keras) <= 0.1 and np.abs(got - keras).mean() <= 0.006
    if name == "merge_captioner":  # its LSTM honours the mask: pre-padding the same prefix changes nothing, bit for bit
        tokens = ds.x_test["tokens"]
        pre = np.zeros_like(tokens)
        pre[:, -3:] = tokens[:, :3]
        np.testing.assert_array_equal(loaded.predict({**ds.x_test, "tokens": pre}), got)

