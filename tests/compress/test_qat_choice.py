"""QAT never hands over less than post-training quantization (fast tier: one tiny model, two short QAT runs).

The case where QAT ends worse is built on purpose: the float model learnt the true mapping, the
fine-tune sees training labels shifted by one class and picks its check on those training rows
(``val_fraction=0``), so the QAT artifact loses on held-out rows while post-training int8 keeps the float model's accuracy.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy import _tf
from lstm_deploy.compress.qat import QatConfig, quantize_aware_train
from lstm_deploy.compress.qat.choice import HeldOut, held_out_rows, resolve_rows
from lstm_deploy.export import calibration_set, convert, load_artifact
from lstm_deploy.load.dataset import validate_arrays

T, F, N_CLS = 6, 3, 3


def _xy(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLS, n)
    x = rng.normal(size=(n, T, F)).astype(np.float32)
    x[:, :, 0] += 2.0 * y[:, None].astype(np.float32)
    return x, y


@pytest.fixture(scope="module")
def case():
    tfk = _tf.tf_keras()
    tfk.utils.set_random_seed(0)
    model = tfk.Sequential([tfk.layers.Input((T, F)), tfk.layers.LSTM(4), tfk.layers.Dense(N_CLS, activation="softmax")])
    model.compile(tfk.optimizers.Adam(0.03), "sparse_categorical_crossentropy")
    x_train, y_train = _xy(48, 0)
    model.fit(x_train, y_train, epochs=30, batch_size=16, verbose=0)
    x_test, y_test = _xy(40, 1)
    shifted = validate_arrays({"x_train": x_train, "y_train": (y_train + 1) % N_CLS, "x_test": x_test, "y_test": y_test})
    return model, shifted


# fine-tune on the shifted labels, choose its check on those training rows: QAT learns the wrong mapping
HURTS = dict(steps=40, batch_size=16, learning_rate=0.05, distill=False, patience=20, compare=())


@pytest.fixture(autouse=True)
def _checks_on_training_rows(monkeypatch):
    """Make QAT end worse on purpose: its checks are judged on its (shifted) training rows.

    The project's selection rule never does this (it selects on held-out rows, so a fine-tune that
    hurts keeps step 0); only this test's own fine-tune split is replaced, to get a QAT model that
    really is worse than post-training, which the hand-over must then catch on the held-out rows.
    """
    from lstm_deploy.compress import fit
    from lstm_deploy.compress.qat import api

    monkeypatch.setattr(api, "_selection_split", lambda ds, cfg: fit.Split(ds.x_train, ds.y_train, ds.x_train, ds.y_train))


def test_qat_worse_than_post_training_hands_over_the_float_model(case):
    model, ds = case
    before = [w.copy() for w in model.get_weights()]
    res = quantize_aware_train(model, ds, QatConfig(**HURTS))
    choice = res.report.choice
    assert choice is not None and choice["ptq_metric"] > choice["qat_metric"] + 0.2, choice  # QAT really ended worse
    assert res.report.handed_over == "post-training" and res.report.summary()["handed_over"] == "post-training"
    assert res.model is model and all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert choice["rows"].startswith("the selection half of x_test (20 of 40") and choice["n_rows"] == 20
    assert "handed over the float model" in res.report.verdict and "--format tflite --quantize int8" in res.report.verdict
    # what export writes for the handed-over model is the post-training artifact the choice scored
    art = convert(res.tf_keras_model, "tflite", "int8", calibration=calibration_set(ds.x_train, QatConfig().calibration_samples, 0))
    ptq = convert(model, "tflite", "int8", calibration=calibration_set(ds.x_train, QatConfig().calibration_samples, 0))
    np.testing.assert_array_equal(load_artifact(art).predict(ds.x_test), load_artifact(ptq).predict(ds.x_test))


def test_always_qat_keeps_the_worse_qat_model(case):
    model, ds = case
    res = quantize_aware_train(model, ds, QatConfig(**HURTS, keep_better=False))
    assert res.report.choice is None and res.report.handed_over == "qat" and res.model is not model
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), res.model.get_weights()))


def test_held_out_rows_never_touch_training_rows(case):
    _model, ds = case
    idx = held_out_rows(ds)
    assert len(idx) == 20 and len(set(idx.tolist())) == 20 and idx.max() < 40
    held = resolve_rows(ds, idx)
    np.testing.assert_array_equal(held.x, ds.x_test[idx])
    with_val = validate_arrays({"x_train": ds.x_train, "y_train": ds.y_train, "x_val": ds.x_test[:8], "y_val": ds.y_test[:8],
                                "x_test": ds.x_test, "y_test": ds.y_test})
    val = held_out_rows(with_val)
    assert isinstance(val, HeldOut) and val.source == "x_val" and len(val.y) == 8


def test_verdict_when_the_float_model_is_handed_over():
    """No advice to switch modes when what export writes (post-training) is already within 0.5 points."""
    from lstm_deploy.compress.qat.choice import Choice
    from lstm_deploy.compress.qat.report import ModeRow, QatReport

    r = QatReport("tflite-int8", False, "classification", "accuracy", 0.8933, 0.8933, 0.84, 510, {}, 0.0, 0.0, True, {})
    r.modes = [ModeRow("tflite-int8", 0.8933, 0.8933, 0.84, 1, 1, "", "", 0.92)]  # GunPoint RNN(StackedRNNCells), measured
    r.judge()
    assert "could NOT" in r.verdict and r.warnings == [r.verdict]
    r.record_choice(Choice("post-training", "tflite-int8", "the selection half of x_test (75 of 150 rows)", 75, 0.8667, 0.84, "handed over the float model", "cmd"))
    assert r.verdict.startswith("post-training tflite-int8 is within 0.5 points of float and QAT is not") and not r.warnings
    assert r.verdict.endswith("handed over the float model") and r.handed_over == "post-training"
