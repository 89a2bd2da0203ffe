"""Encoder + single-step decoder artifacts: runtime.generate equals Keras greedy decoding token for token."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile

import numpy as np
import pytest

from lstm_deploy import runtime
from lstm_deploy.errors import UnsupportedLayerError
from lstm_deploy.export.captioner import export_captioner, keras_greedy
from lstm_deploy.load import flavours as bridge

from tests.zoo import CAP_IMAGE, CAPTION_ZOO, keras_module

START, END = 1, 2
CASES = [("merge_captioner", "keras3"), ("inject_captioner", "tf_keras")]  # Keras 3 inject drops its mask: refused below


def _images(n: int = 5) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, *CAP_IMAGE)).astype(np.float32)


@functools.cache
def _exported(name: str, flavour: str):
    model = CAPTION_ZOO[name](keras_module(flavour))
    folder = tempfile.mkdtemp(prefix="lstm-deploy-captioner-")
    atexit.register(shutil.rmtree, folder, True)
    arts = export_captioner(model, folder, start=START, end=END, images=_images(), formats=("onnx",), quantize=("fp32", "dynamic"))
    return model, arts


@pytest.mark.parametrize("name, flavour", CASES)
def test_generate_equals_keras_greedy(name, flavour):
    model, arts = _exported(name, flavour)
    fp32 = next(a for a in arts if a.quantization == "fp32")
    assert fp32.greedy_agreement == 1.0 and 0.0 <= arts[1].greedy_agreement <= 1.0
    enc, dec = runtime.Model.load(fp32.encoder), runtime.Model.load(fp32.decoder)
    assert dec.manifest["captioner"]["role"] == "decoder" and list(dec.inputs)[:3] == ["token", "state_h", "state_c"]
    images = _images(7)[2:]  # partly other images than the export checked
    assert [runtime.generate(enc, dec, img) for img in images] == keras_greedy(model, images, start=START, end=END)
    beam = runtime.generate(enc, dec, images[0], beam=3, max_len=4)
    assert len(beam) <= 4 and END not in beam and 0 not in beam


@pytest.mark.parametrize("name, flavour", CASES)
def test_decoder_steps_equal_keras_next_word_probabilities(name, flavour):
    """Stronger than equal argmaxes: every step's distribution equals Keras' on the same prefix (<= 1e-5)."""
    model, arts = _exported(name, flavour)
    enc, dec = runtime.Model.load(arts[0].encoder), runtime.Model.load(arts[0].decoder)
    wiring = dec.manifest["captioner"]
    image, prefix = _images(1), [START, 5, 7, 3]
    encoded = runtime._run_all(enc, {"image": image})
    state = {s["input"]: encoded[s["init"]] if s["init"] != "zeros" else np.zeros((1, s["units"]), np.float32) for s in wiring["states"]}
    tokens = np.zeros((1, wiring["prefix_length"]), "int32")
    for t, tok in enumerate(prefix):
        out = runtime._run_all(dec, {"token": np.array([tok], "int32"), **state, **{f: encoded[f] for f in wiring["features"]}})
        state = {s["input"]: out[s["output"]] for s in wiring["states"]}
        tokens[0, t] = tok
        keras = bridge.call(model, [image, tokens])[0]
        assert np.max(np.abs(out["output"] - keras)) <= 1e-5


def test_keras3_inject_without_mask_is_refused(tmp_path):
    with pytest.raises(UnsupportedLayerError, match="runs it over the padding"):
        export_captioner(CAPTION_ZOO["inject_captioner"](keras_module("keras3")), tmp_path, start=START, end=END, formats=("onnx",))
