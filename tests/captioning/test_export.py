"""Captioners export fused (no WHILE / Loop / Flex), keep the Keras input names, and equal Keras (fp32)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from lstm_deploy import runtime
from lstm_deploy.errors import UnsupportedLayerError
from lstm_deploy.load import flavours as bridge

from tests.zoo import CAPTION_ZOO, keras_module

FUSED = {"tflite": "UNIDIRECTIONAL_SEQUENCE_LSTM", "onnx": "LSTM"}
LOOPS = {"WHILE", "Loop", "Scan"}


@functools.cache
def _exported(name: str, fmt: str):
    from lstm_deploy.export.convert import convert, load_artifact

    model = CAPTION_ZOO[name](keras_module("keras3"))
    art = convert(bridge.to_tf_keras(model), fmt, "fp32")
    return model, art, load_artifact(art)


def _inputs(model, n: int = 5):
    image, tokens = bridge.sample_inputs(model, batch=n, seed=3)
    tokens[1] = [0, 0, 3, 4, 5]  # pre-padded
    tokens[2] = [3, 0, 4, 0, 5]  # gaps
    return image, tokens


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_captioner_exports_fused_with_parity(name, fmt):
    model, art, artifact = _exported(name, fmt)
    assert art.fused and FUSED[fmt] in art.ops and not LOOPS & set(art.ops) and not any(op.startswith("CUSTOM") for op in art.ops)
    assert list(artifact.inputs) == ["image", "tokens"]
    image, tokens = _inputs(model)
    reference = bridge.call(model, [image, tokens])[0]
    produced = artifact.predict({"image": image, "tokens": tokens})
    assert produced.shape == reference.shape
    assert np.max(np.abs(produced - reference)) <= 1e-5


def test_multi_input_artifact_checks_each_input_by_name():
    model, _, artifact = _exported("merge_captioner", "onnx")
    image, tokens = _inputs(model)
    with pytest.raises(runtime.RuntimeError_, match="takes several inputs; pass a dict"):
        artifact.predict(image)
    with pytest.raises(runtime.RuntimeError_, match=r"input 'tokens' holds 99; it takes values from 0 to 11"):
        artifact.predict({"image": image, "tokens": np.where(tokens > 4, 99, tokens)})
    with pytest.raises(runtime.RuntimeError_, match=r"input 'image' has shape \(5, 8, 8\)"):
        artifact.predict({"image": image[..., 0], "tokens": tokens})
    with pytest.raises(runtime.RuntimeError_, match="different numbers of rows: image: 5, tokens: 4"):
        artifact.predict({"image": image, "tokens": tokens[:4]})


def test_merging_a_masked_sequence_is_refused(keras3):
    from lstm_deploy.export.plan import build_plan

    L = keras3.layers
    a, b = keras3.Input((5,), dtype="int32", name="a"), keras3.Input((5, 4), name="b")
    seq = L.LSTM(4, return_sequences=True)(L.Embedding(9, 4, mask_zero=True)(a))
    model = keras3.Model([a, b], L.Dense(2)(L.Concatenate()([seq, b])))
    with pytest.raises(UnsupportedLayerError, match="layer 'concatenate.*' \\(Concatenate\\) merges a masked sequence"):
        build_plan(bridge.to_tf_keras(model))


def test_inspect_agrees_with_export(keras3):
    from lstm_deploy.export.plan import build_plan
    from lstm_deploy.load.summary import inspect_model

    for name in CAPTION_ZOO:
        assert inspect_model(CAPTION_ZOO[name](keras3)).stages["export"] == "yes"
    L = keras3.layers
    a, b = keras3.Input((5,), dtype="int32", name="a"), keras3.Input((5, 4), name="b")
    seq = L.LSTM(4, return_sequences=True)(L.Embedding(9, 4, mask_zero=True)(a))
    refused = keras3.Model([a, b], L.Dense(2)(L.Concatenate()([seq, b])))
    with pytest.raises(UnsupportedLayerError) as exc:
        build_plan(bridge.to_tf_keras(refused))
    assert inspect_model(refused).stages["export"] == f"no: {exc.value}"


def test_export_model_writes_named_input_artifacts_checked_on_x_test(tmp_path, keras3):
    """The export command's library path: a saved captioner plus x_test__<input> data -> artifacts apps load by name."""
    from lstm_deploy.export import ExportConfig, export_model

    model = CAPTION_ZOO["inject_captioner"](keras3)
    model.save(tmp_path / "cap.keras")
    image, tokens = _inputs(model, n=6)
    np.savez(tmp_path / "d.npz", x_train__image=image, x_train__tokens=tokens, y_train=np.arange(6),
             x_test__image=image, x_test__tokens=tokens, y_test=np.arange(6))
    (result,) = export_model(tmp_path / "cap.keras", tmp_path / "out", ExportConfig(formats=("onnx",), quantize=("fp32",)), data=tmp_path / "d.npz")
    assert result.passed and result.fused and result.parity.inputs == "x_test" and result.parity.max_abs_error <= 1e-5
    loaded = runtime.Model.load(result.artifact)
    assert loaded.manifest["input_names"] == ["image", "tokens"] and loaded.manifest["input_ranges"] == {"tokens": [0, 11]}
    produced = loaded.predict({"image": image, "tokens": tokens})
    assert np.max(np.abs(produced - bridge.call(model, [image, tokens])[0])) <= 1e-5
