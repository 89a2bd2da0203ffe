"""Masked exports take exactly the Keras model's input: padding found in the graph, kernels fused, Keras' answer.

Keras 3 ``Masking`` and ``Embedding(mask_zero=True)`` models, stacked and Bidirectional, on
real padded speech data (JapaneseVowels) and on post-padded, pre-padded, gapped and
all-padding sequences; the ``--lengths-input`` contract; portable manifests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lstm_deploy.export import ExportConfig, export_model, onnx_ops, tflite_ops
from tests.helpers import run_cli
from tests.zoo import T, seeded

VOCAB = 15


def masking_stack(k):
    L = k.layers
    return k.Sequential([k.Input((29, 12)), L.Masking(0.0), L.LSTM(8, return_sequences=True), L.Bidirectional(L.LSTM(5)),
                         L.Dense(9, activation="softmax")])


def tokens_stack(k):
    L = k.layers
    return k.Sequential([k.Input((T,), dtype="int32"), L.Embedding(VOCAB, 4, mask_zero=True),
                         L.Bidirectional(L.LSTM(4, return_sequences=True)), L.LSTM(3, return_sequences=True),
                         L.TimeDistributed(L.Dense(2))])


def relayout(x: np.ndarray, pad: float, seed: int) -> np.ndarray:
    """The same real steps, padded three ways in turn (post as given, pre, random gaps) plus one all-padding sequence."""
    rng = np.random.default_rng(seed)
    out = np.full_like(x, pad)
    steps = x.shape[1]
    for i, seq in enumerate(x):
        real = seq[np.any((seq != pad).reshape(steps, -1), axis=1)]
        if i % 3 == 0:
            out[i, :len(real)] = real
        elif i % 3 == 1:
            out[i, steps - len(real):] = real
        else:
            where = np.sort(rng.choice(steps, size=len(real), replace=False))
            out[i, where] = real
    out[-1] = pad
    return out


def _check_artifacts(results, model, x, tolerance=1e-5):
    from lstm_deploy.runtime import Model

    expected = np.asarray(model(x, training=False))
    for r in results:
        data = r.artifact.read_bytes()
        ops = tflite_ops(data) if r.format == "tflite" else onnx_ops(data)
        if r.format == "tflite":
            assert {"UNIDIRECTIONAL_SEQUENCE_LSTM"} <= set(ops) and "WHILE" not in ops and not any(o.startswith("CUSTOM") for o in ops), ops
        else:
            assert "LSTM" in ops and "Loop" not in ops and "Scan" not in ops, ops
        loaded = Model.load(r.artifact)
        assert list(loaded.inputs) == ["x"], (r.format, list(loaded.inputs))  # exactly the Keras model's one input
        manifest = json.loads(r.manifest.read_text())
        assert manifest["masking"]["lengths"] == "derived" and manifest["masking"]["lengths_input"] is None
        assert r.fused and r.parity.passed
        got = loaded.predict(x)
        assert np.abs(got - expected).max() <= tolerance, (r.format, float(np.abs(got - expected).max()))


@pytest.fixture(scope="module")
def vowels():
    from lstm_deploy.load.sources import aeon_classification

    return aeon_classification("JapaneseVowels").arrays


def test_keras3_masking_stack_on_real_padded_data(vowels, tmp_path):
    """Real post-padded recordings, then the same recordings pre-padded and with gaps: every artifact equals Keras."""
    k = seeded("keras3")
    model = masking_stack(k)
    x = vowels["x_test"][:96]
    path = tmp_path / "data.npz"
    np.savez(path, x_train=vowels["x_train"][:32], y_train=vowels["y_train"][:32], x_test=x, y_test=vowels["y_test"][:96])
    results = export_model(model, tmp_path / "out", ExportConfig(formats=("tflite", "onnx")), data=path, name="vowels")
    assert all(r.parity.inputs == "x_test" and r.parity.max_abs_error <= 1e-5 for r in results)
    _check_artifacts(results, model, x)
    _check_artifacts(results, model, relayout(x, 0.0, seed=1))


def test_keras3_tokens_bidirectional_stack_any_padding(tmp_path):
    k = seeded("keras3", seed=2)
    model = tokens_stack(k)
    results = export_model(model, tmp_path, ExportConfig(formats=("tflite", "onnx")), name="tokens")
    manifest = json.loads(results[0].manifest.read_text())
    assert manifest["input_range"] == [0, VOCAB - 1]  # apps and serve refuse ids the Embedding does not have
    rng = np.random.default_rng(5)
    x = rng.integers(1, VOCAB, size=(30, T)).astype(np.int32)
    for i, length in enumerate(rng.integers(1, T + 1, size=len(x))):
        x[i, length:] = 0
    _check_artifacts(results, model, relayout(x, 0, seed=3))


def test_lengths_input_flag_keeps_the_explicit_contract(tmp_path):
    from lstm_deploy.runtime import Model, RuntimeError_

    k = seeded("keras3", seed=4)
    L = k.layers
    model = k.Sequential([k.Input((T, 3)), L.Masking(-1.0), L.Bidirectional(L.LSTM(3)), L.Dense(2)])
    (r,) = export_model(model, tmp_path, ExportConfig(formats=("tflite",), lengths_input=True), name="explicit")
    loaded = Model.load(r.artifact)
    assert sorted(loaded.inputs) == ["lengths", "x"]
    manifest = json.loads(r.manifest.read_text())
    assert manifest["masking"]["lengths"] == "input" and manifest["masking"]["padding"] == "post"
    x = np.random.default_rng(6).standard_normal((5, T, 3)).astype(np.float32)
    x[1, 3:] = -1.0
    x[4, :] = -1.0
    np.testing.assert_allclose(loaded.predict(x), np.asarray(model(x, training=False)), atol=1e-5)
    x[2, :2] = -1.0  # pre-padded: the explicit contract cannot express it, and says so
    with pytest.raises(RuntimeError_, match="input sequence 2 has padding steps before real steps"):
        loaded.predict(x)
    derived = export_model(model, tmp_path / "d", ExportConfig(formats=("tflite",)), name="derived")[0]
    with pytest.raises(RuntimeError_, match="takes no lengths input .* call predict\\(x\\)"):
        Model.load(derived.artifact).predict(x, lengths=np.full(5, T))


def test_lengths_input_flag_is_refused_where_it_means_nothing(tmp_path):
    from lstm_deploy.errors import InputError

    k = seeded("tf_keras")
    plain = k.Sequential([k.Input((T, 3)), k.layers.LSTM(3), k.layers.Dense(2)])
    with pytest.raises(InputError, match="--lengths-input: the model has no Masking layer or Embedding\\(mask_zero=True\\)"):
        export_model(plain, tmp_path, ExportConfig(formats=("onnx",), lengths_input=True))
    with pytest.raises(InputError, match="--lengths-input with --streaming"):
        ExportConfig(streaming=True, lengths_input=True)
    assert not list(tmp_path.iterdir())


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_manifests_hold_no_absolute_path(tmp_path, capsys):
    """Export through the CLI with absolute paths everywhere: no manifest string names the exporting machine's folders."""
    from lstm_deploy.load.modelio import file_sha256, save_model

    k = seeded("tf_keras")
    model = k.Sequential([k.Input((T,), dtype="int32"), k.layers.Embedding(VOCAB, 4, mask_zero=True), k.layers.LSTM(3),
                          k.layers.Dense(2, activation="softmax")])
    src = tmp_path / "models" / "tok.keras"
    src.parent.mkdir()
    save_model(model, src)
    x = np.random.default_rng(0).integers(0, VOCAB, size=(12, T)).astype(np.int32)
    y = np.arange(12) % 2
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y, label_names=np.array(["no", "yes"]))
    out = tmp_path / "out"
    code, _, err = run_cli(["export", str(src.resolve()), "--data", str((tmp_path / "d.npz").resolve()), "-o", str(out.resolve())], capsys)
    assert code == 0, err
    manifests = sorted(out.glob("tok.*.json"))  # (the folder also holds the ledger of what lstm-deploy wrote)
    assert [p.name for p in manifests] == ["tok.fp32.onnx.json", "tok.fp32.tflite.json"]
    for path in manifests:
        text = path.read_text()
        assert str(tmp_path) not in text and "/models/" not in text
        data = json.loads(text)
        assert not [s for s in _strings(data) if s.startswith(("/", "~")) or s[1:3] in (":\\", ":/")]
        assert data["source_model"]["file"] == "tok.keras" and data["source_model"]["sha256"] == file_sha256(src)
        assert data["artifact"] == Path(path.name).stem and data["labels"] == ["no", "yes"]


def test_portable_replaces_absolute_paths_from_any_field():
    from lstm_deploy.export.manifest import dumps

    text = dumps({"preprocessing": {"vocab_file": "/home/me/vocab.json", "csv": "C:\\data\\x.csv", "rel": "data/x.csv"},
                  "note": Path("/tmp/abs/file.npz")})
    data = json.loads(text)
    assert data == {"preprocessing": {"vocab_file": "vocab.json", "csv": "x.csv", "rel": "data/x.csv"}, "note": "file.npz"}
