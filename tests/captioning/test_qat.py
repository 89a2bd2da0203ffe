"""QAT on captioners: two inputs, a masked Embedding, Conv2D, and (inject) an LSTM started from the image's state."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy import _tf
from lstm_deploy.compress.qat import QatConfig, quantize_aware_train, scheme_for
from lstm_deploy.compress.qat.fakequant import quantize_weight_np

from tests.helpers import run_cli
from tests.zoo import CAPTION_ZOO, caption_dataset, keras_module

DYNAMIC = QatConfig(target="tflite-dynamic", keep_better=False, steps=6, batch_size=16, compare=("tflite-dynamic",))


def _layer(model, cls: str):
    return next(layer for layer in model.layers if layer.__class__.__name__ == cls)


def _pruned(name: str):
    """The captioner with half of its Conv2D kernel and LSTM kernels zeroed (as pruning leaves them)."""
    model = CAPTION_ZOO[name](keras_module("keras3"))
    rng = np.random.default_rng(1)
    for cls, n in (("Conv2D", 1), ("LSTM", 2)):
        layer = _layer(model, cls)
        ws = layer.get_weights()
        layer.set_weights([w * (rng.random(w.shape) > 0.5) if i < n else w for i, w in enumerate(ws)])
    return model


@pytest.fixture(scope="module")
def trained():
    ds = caption_dataset()
    out = {}
    for name in sorted(CAPTION_ZOO):
        model = _pruned(name)
        out[name] = (model, quantize_aware_train(model, ds, DYNAMIC))
    return out


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_dynamic_qat_trains_captioners_onto_the_int8_grid(name, trained):
    model, res = trained[name]
    plain = res.tf_keras_model
    assert [t.name.split(":")[0] for t in res.model.inputs] == ["image", "tokens"]
    conv, lstm = _layer(plain, "Conv2D").get_weights()[0], _layer(plain, "LSTM").get_weights()
    np.testing.assert_array_equal(quantize_weight_np(conv, 1, False), conv)  # per tensor (the default)
    for kernel in lstm[:2]:  # kernel, recurrent kernel: per gate, as TFLite splits them
        np.testing.assert_array_equal(quantize_weight_np(kernel, 4, False), kernel)
        assert max(len(np.unique(block)) for block in np.split(kernel, 4, axis=-1)) <= 255
    before = (_layer(model, "Conv2D").get_weights()[0], *_layer(model, "LSTM").get_weights()[:2])
    for b, a in zip(before, (conv, *lstm[:2])):
        assert (b == 0).mean() > 0.3 and (a[b == 0] == 0).all(), "a pruned weight came back"
    assert res.report.pruned_zeros_kept and res.report.finetune["steps_run"] >= 1
    (row,) = res.report.modes
    assert row.mode == "tflite-dynamic" and 0.0 <= row.qat_metric <= 1.0 and row.qat_bytes > 0
    assert row.simulation_agreement is not None and row.simulation_agreement >= 0.9


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_strip_gives_back_the_annotated_float_path(name):
    """Snap only: the plain model computes what the training model does, initial_state and mask included."""
    from lstm_deploy.compress.qat.build import annotate, strip
    from lstm_deploy.load.flavours import to_tf_keras

    base = to_tf_keras(CAPTION_ZOO[name](keras_module("keras3")))
    annotated = annotate(base, scheme_for(DYNAMIC))
    standin = annotated.layers[_layer(base, "LSTM").name]
    assert len(standin._inbound_nodes[0].keras_inputs) == (3 if name == "inject_captioner" else 1)  # [tokens, h0, c0]
    x = caption_dataset(8).x_test
    np.testing.assert_allclose(strip(annotated)(x).numpy(), annotated.model(x, training=False).numpy(), atol=1e-6)


def _on_grid(weights):
    return [quantize_weight_np(w, 4, False) if w.ndim == 2 else w for w in weights]


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_qat_lstm_masks_like_keras(return_sequences, with_state):
    """On post-padded input, QatLSTM with on-grid weights equals a tf_keras LSTM (mask and initial_state honoured)."""
    from lstm_deploy.compress.qat.lstm_layers import classes

    tf, tfk = _tf.tf(), _tf.tf_keras()
    QatLSTM, _ = classes()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    mask = tf.constant(np.arange(5)[None, :] < np.array([5, 3, 1, 4])[:, None])
    state = [tf.constant(rng.normal(size=(4, 6)).astype(np.float32)) for _ in range(2)] if with_state else None
    keras_lstm = tfk.layers.LSTM(6, return_sequences=return_sequences)
    keras_lstm(x)
    keras_lstm.set_weights(_on_grid(keras_lstm.get_weights()))
    standin = QatLSTM(6, scheme_for(DYNAMIC), return_sequences=return_sequences)
    standin(x)
    standin.kernel.assign(keras_lstm.get_weights()[0])
    standin.recurrent_kernel.assign(keras_lstm.get_weights()[1])
    standin.bias.assign(keras_lstm.get_weights()[2])
    want = keras_lstm(x, mask=mask, initial_state=state).numpy()
    got = standin(x, mask=mask, initial_state=state).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(standin(x, initial_state=state).numpy() - got).max() > 1e-3  # the mask mattered
    if return_sequences:
        assert standin.compute_mask(x, mask) is mask


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_full_int8_qat_trains_captioners_and_compares_real_int8_artifacts(name):
    """Several inputs and a masked decoder: QAT simulates the integer kernel and scores both real int8 artifacts."""
    model = CAPTION_ZOO[name](keras_module("keras3"))
    result = quantize_aware_train(model, caption_dataset(), QatConfig(steps=6, batch_size=16))
    (row,) = result.report.modes
    assert row.mode == "tflite-int8" and row.qat_bytes > 0 and row.ptq_bytes > 0
    choice = result.report.choice
    assert choice["mode"] == "tflite-int8" and choice["rows"].startswith("the selection half of x_test")
    if name == "merge_captioner":  # the inject one answers near-uniform probabilities untrained: argmax agreement is noise
        assert row.simulation_agreement >= 0.9


def test_quantize_cli_trains_the_int8_default_and_export_writes_it(tmp_path, capsys):
    model = CAPTION_ZOO["merge_captioner"](keras_module("keras3"))
    model.save(tmp_path / "m.keras")
    ds = caption_dataset(8)
    np.savez(tmp_path / "d.npz", **{f"{s}__{k}": v for s in ("x_train", "x_test") for k, v in getattr(ds, s).items()},
             y_train=ds.y_train, y_test=ds.y_test)
    code, _out, err = run_cli(["quantize", tmp_path / "m.keras", "--data", tmp_path / "d.npz", "--steps", "4", "-o", tmp_path / "q.keras"],
                              capsys)
    assert code == 0, err
    code, _out, err = run_cli(["export", tmp_path / "q.keras", "--data", tmp_path / "d.npz", "--tflite", "-o", tmp_path / "out"], capsys)
    assert code == 0, err
    assert (tmp_path / "out" / "q.int8.tflite").exists()  # the target quantize trained for, beside fp32
