"""Quantization-aware training: every supported architecture trains, strips, reloads and exports fused."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy import _tf
from lstm_deploy.load.dataset import validate_arrays
from lstm_deploy.errors import InputError, UnsupportedLayerError
from lstm_deploy.compress.qat import QatConfig, quantize_aware_train, scheme_for
from lstm_deploy.compress.qat.fakequant import quantize_weight_np
from lstm_deploy.export import ExportConfig, convert, export_model, load_artifact
from tests.helpers import bare_tflite_predict

T, F, N_CLS = 6, 3, 3


def _data(int_inputs: bool = False):
    rng = np.random.default_rng(0)
    n = 60
    y = rng.integers(0, N_CLS, n)
    if int_inputs:
        x = rng.integers(1, 10, (n, T)).astype(np.int32)
        x[:, 0] = y + 1  # learnable signal
    else:
        x = rng.normal(size=(n, T, F)).astype(np.float32)
        x[:, :, 0] += y[:, None].astype(np.float32)
    return validate_arrays({"x_train": x[:40], "y_train": y[:40], "x_test": x[40:], "y_test": y[40:]})


def _model(arch: str):
    tfk = _tf.tf_keras()
    L = tfk.layers
    tfk.utils.set_random_seed(0)
    if arch == "embedding":
        inp = L.Input((T,), dtype="int32")
        x = L.Embedding(10, 4)(inp)
        x = L.LSTM(5)(x)
    else:
        inp = L.Input((T, F))
        x = inp
        if arch == "conv1d":
            x = L.Conv1D(4, 3, padding="same", activation="relu")(x)
            x = L.LSTM(5)(x)
        elif arch == "plain":  # Sequential, the most common user model
            return tfk.Sequential([L.Input((T, F)), L.LSTM(5), L.Dense(N_CLS, activation="softmax")])
        elif arch == "stacked":
            x = L.LSTM(5, return_sequences=True)(x)
            x = L.LSTM(4)(x)
        elif arch == "bidirectional":
            x = L.Bidirectional(L.LSTM(4, return_sequences=True))(x)
            x = L.GlobalAveragePooling1D()(x)
        elif arch == "combo":
            x = L.Conv1D(4, 3, padding="same", activation="relu")(x)
            x = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum")(x)
            x = L.LSTM(4, go_backwards=True)(x)
    out = L.Dense(N_CLS, activation="softmax")(x)
    return tfk.Model(inp, out)


@pytest.fixture(scope="module")
def data():
    return _data()


def _fused(ops: list[str]) -> list[str]:
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops or "BIDIRECTIONAL_SEQUENCE_LSTM" in ops, ops
    assert "WHILE" not in ops and not any(o.startswith("Flex") for o in ops), ops
    return ops


@pytest.fixture(scope="module")
def trained():
    """One QAT run per architecture (1 epoch), shared by the tests below."""
    out = {}
    for arch in ARCHS:
        ds = _data(int_inputs=arch == "embedding")
        model = _model(arch)
        before = [w.copy() for w in model.get_weights()]
        res = quantize_aware_train(model, ds, QatConfig(keep_better=False, epochs=1, batch_size=16, compare=()))
        out[arch] = (ds, model, before, res)
    return out


ARCHS = ["plain", "stacked", "bidirectional", "conv1d", "embedding", "combo"]


@pytest.mark.parametrize("arch", ARCHS)
def test_qat_trains_keeps_input_and_saves_reloads(arch, trained, tmp_path):
    from lstm_deploy.load.modelio import load_model, save_model

    ds, model, before, res = trained[arch]
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "input model was modified"
    assert [l.__class__.__name__ for l in res.model.layers] == [l.__class__.__name__ for l in model.layers]
    curve = res.report.finetune["curve"]
    assert [p["step"] for p in curve][:1] == [0] and curve[-1]["step"] == res.report.finetune["steps_run"] >= 1
    assert all(np.isfinite(p["val_loss"]) and "quant_error" in p for p in curve)
    # LSTM kernels sit exactly on the per-gate int8 grid TFLite uses; the fine-tune moved them
    lstm_weights = [w.numpy() for l in res.tf_keras_model.layers if l.__class__.__name__ in ("LSTM", "Bidirectional")
                    for w in l.weights if "kernel" in w.name]
    assert lstm_weights
    for v in lstm_weights:
        np.testing.assert_array_equal(quantize_weight_np(v, 4, False), v)
    path = save_model(res.model, tmp_path / "qat.keras")
    reloaded = load_model(path).model
    np.testing.assert_allclose(reloaded.predict(ds.x_test, verbose=0), res.model.predict(ds.x_test, verbose=0), atol=1e-6)


@pytest.mark.parametrize("arch", ["combo", "embedding"])  # combo = conv1d + bidirectional + stacked LSTM
def test_qat_model_exports_fused_int8(arch, trained):
    ds, _model_, _before, res = trained[arch]
    art = convert(res.tf_keras_model, "tflite", "int8", calibration=ds.x_train[:8])
    _fused(art.ops)  # asserts fused LSTM ops, no WHILE / Flex
    if arch == "combo":  # forward + backward of the Bidirectional, then a stacked go_backwards LSTM: all fused
        from ai_edge_litert.interpreter import Interpreter

        names = [d["op_name"] for d in Interpreter(model_content=art.data)._get_ops_details()]
        assert names.count("UNIDIRECTIONAL_SEQUENCE_LSTM") + 2 * names.count("BIDIRECTIONAL_SEQUENCE_LSTM") == 3, names
    # runtime.Model runs the int8 artifact exactly as the bare LiteRT API does (inputs quantized by hand);
    # these 1-epoch models are untrained, so their values are judged in the test below, on a trained one
    np.testing.assert_array_equal(load_artifact(art).predict(ds.x_test), bare_tflite_predict(art.data, ds.x_test))


def test_int8_export_of_a_trained_qat_model_computes_the_qat_model(tmp_path):
    """The full-int8 artifact ``export`` writes for a QAT model predicts what the QAT model predicts.

    Reference: the bare LiteRT API (quantized by hand) against the QAT model in Keras, on a
    model trained first (an untrained one's near-uniform outputs would hide any mismatch).
    """
    ds = _data(int_inputs=True)
    model = _model("embedding")
    model.compile(_tf.tf_keras().optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(ds.x_train, ds.y_train, epochs=30, batch_size=16, verbose=0)
    res = quantize_aware_train(model, ds, QatConfig(keep_better=False, epochs=1, batch_size=16, compare=()))
    (result,) = export_model(res.model, tmp_path, ExportConfig(formats=("tflite",), quantize=("int8",), require_fused=True), data=ds)
    got = bare_tflite_predict(result.artifact, ds.x_test)
    want = res.model.predict(ds.x_test, verbose=0)
    assert want.max() - want.min() > 0.5  # a confident model, not a uniform one
    assert np.abs(got - want).max() <= 0.1, np.abs(got - want).max()
    assert np.array_equal(got.argmax(1), want.argmax(1))


def test_zero_epochs_changes_predictions_only_by_quantization_noise(data):
    model = _model("stacked")
    res = quantize_aware_train(model, data, QatConfig(keep_better=False, epochs=0, compare=()))
    p0 = model.predict(data.x_test, verbose=0)
    p1 = res.model.predict(data.x_test, verbose=0)
    diff = np.abs(p0 - p1).max()
    assert 0 < diff < 0.02, diff
    assert res.report.best_step == 0 and [p["step"] for p in res.report.finetune["curve"]] == [0]
    lstm_ranges = [r for r in res.report.activation_ranges.values() if "hidden_state" in r]
    assert len(lstm_ranges) == 2 and all(set(r) == {"input", "hidden_state", "cell_state"} for r in lstm_ranges)
    assert all(-1.0 <= r["hidden_state"][0] <= r["hidden_state"][1] <= 1.0 for r in lstm_ranges)


def test_sparsity_survives_qat(data):
    """Pruned zeros stay zero through a fine-tune that really moved the other weights.

    Step 0 is only the input snapped to the int8 grid, where zeros stay zero by rounding
    alone; so the model is untrained and learns from the labels (a later step must win),
    and the surviving weights must move much further than one int8 step.
    """
    model = _model("plain")
    rng = np.random.default_rng(1)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws and layer.__class__.__name__ in ("LSTM", "Dense"):
            ws[0] = ws[0] * (rng.random(ws[0].shape) > 0.5)
            if layer.__class__.__name__ == "LSTM":
                ws[1] = ws[1] * (rng.random(ws[1].shape) > 0.5)
            layer.set_weights(ws)
    before = model.get_weights()
    import dataclasses

    config = QatConfig(keep_better=False, epochs=3, batch_size=8, learning_rate=1e-2, distill=False, compare=())
    # selection on the training rows, given as x_val (the only way to select there now): a later step must win
    res = quantize_aware_train(model, dataclasses.replace(data, x_val=data.x_train, y_val=data.y_train), config)
    assert res.report.best_step > 0, res.report.finetune
    after = res.model.get_weights()
    kernels = [(b, a) for b, a in zip(before, after) if b.ndim == 2]  # LSTM kernel, recurrent kernel, Dense kernel
    assert len(kernels) == 3
    for b, a in kernels:
        assert (a[b == 0] == 0).all(), "a pruned weight came back"
        step = np.abs(b).max() / 127
        assert np.abs(a - b)[b != 0].max() > 10 * step, "the fine-tune did not move the surviving weights"
    assert res.report.sparsity_before > 0.4
    assert res.report.sparsity_after >= res.report.sparsity_before and res.report.pruned_zeros_kept


def _bare_onnxruntime(data: bytes, x: np.ndarray) -> np.ndarray:
    """Independent reference: the bare ONNX Runtime API, not lstm_deploy.runtime."""
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_onnx_dynamic_target_per_channel_reports_and_fuses(data):
    """The side-by-side row holds the accuracies of the float model and of both artifacts, computed by hand here.

    The test inputs are the ones the float model is least sure about (smallest top-2 margin
    of 4000 random sequences) and their labels are the post-training artifact's own
    predictions: its accuracy is 1.0 and the others' is their agreement with it, so the
    three numbers differ and a row that scored the wrong artifact (or model) would not match.
    """
    model = _model("bidirectional")
    pool = np.random.default_rng(3).normal(size=(4000, T, F)).astype(np.float32)
    top2 = np.sort(model.predict(pool, verbose=0, batch_size=500), axis=-1)[:, -2:]
    x_test = pool[np.argsort(top2[:, 1] - top2[:, 0])[:40]]
    ptq_art = convert(model, "onnx", "dynamic")
    ptq_out = _bare_onnxruntime(ptq_art.data, x_test)
    labelled = validate_arrays({"x_train": data.x_train, "y_train": data.y_train, "x_test": x_test, "y_test": ptq_out.argmax(-1)})
    res = quantize_aware_train(model, labelled, QatConfig(keep_better=False, target="onnx-dynamic", per_channel=True, epochs=1, compare=("onnx-dynamic",)))
    (row,) = res.report.modes
    qat_art = convert(res.tf_keras_model, "onnx", "dynamic")
    assert "DynamicQuantizeLSTM" in qat_art.ops and "Loop" not in qat_art.ops
    assert row.mode == "onnx-dynamic"  # (no byte check: tf2onnx names nodes with a process-wide counter)

    def accuracy(outputs):  # by hand, not lstm_deploy.metrics
        return round(float(np.mean(np.asarray(outputs).argmax(-1) == labelled.y_test)), 6)

    assert row.ptq_metric == accuracy(ptq_out) == 1.0
    assert row.qat_metric == accuracy(_bare_onnxruntime(qat_art.data, x_test))
    assert row.float_metric == accuracy(model.predict(x_test, verbose=0))
    assert len({row.float_metric, row.ptq_metric, row.qat_metric}) > 1, row  # the check can tell the three apart


def test_keras3_model_comes_back_as_keras3(data):
    from lstm_deploy.load.flavours import flavour_of

    keras = _tf.keras3()
    inp = keras.Input((T, F))
    out = keras.layers.Dense(N_CLS, activation="softmax")(keras.layers.LSTM(5)(inp))
    model = keras.Model(inp, out)
    res = quantize_aware_train(model, data, QatConfig(keep_better=False, epochs=0, compare=()))
    assert flavour_of(res.model) == "keras3" and flavour_of(res.tf_keras_model) == "tf_keras"
    assert np.abs(model.predict(data.x_test, verbose=0) - res.model.predict(data.x_test, verbose=0)).max() < 0.02


@pytest.mark.parametrize("bad", ["gru", "masking", "relu_lstm"])
def test_unsupported_layers_are_named(bad, data):
    tfk = _tf.tf_keras()
    L = tfk.layers
    inp = L.Input((T, F))
    if bad == "gru":
        x = L.GRU(4, name="my_gru")(inp)
    elif bad == "masking":
        x = L.LSTM(4)(L.Masking(name="my_mask")(inp))
    else:
        x = L.LSTM(4, activation="relu", name="my_relu_lstm")(inp)
    model = tfk.Model(inp, L.Dense(N_CLS)(x))
    with pytest.raises(UnsupportedLayerError, match=r"layer 'my_(gru|mask|relu_lstm)'"):
        quantize_aware_train(model, data, QatConfig(epochs=0, compare=()))


def test_masking_models_train_for_dynamic_range_and_the_mask_matters(data):
    """``Masking`` is a passthrough for the dynamic-range targets: the training model's stand-in LSTM honours its mask like Keras."""
    from lstm_deploy.compress.qat.build import annotate

    tfk = _tf.tf_keras()
    L = tfk.layers
    inp = L.Input((T, F))
    model = tfk.Model(inp, L.Dense(N_CLS)(L.LSTM(4)(L.Masking(0.0)(inp))))
    x = data.x_test.copy()
    x[:, T // 2:] = 0.0  # the second half of every sequence is padding
    want = model.predict(x, verbose=0)
    simulated = annotate(model, scheme_for(QatConfig(target="tflite-dynamic"))).model.predict(x, verbose=0)
    unmasked = tfk.Model(inp, model.layers[-1](model.layers[-2](inp))).predict(x, verbose=0)  # the same weights, no mask
    assert np.abs(simulated - want).max() < 0.05 < np.abs(unmasked - want).max()
    res = quantize_aware_train(model, data, QatConfig(target="tflite-dynamic", keep_better=False, epochs=0, compare=()))
    assert [layer.__class__.__name__ for layer in res.model.layers][:2] == ["InputLayer", "Masking"]


@pytest.mark.parametrize("kwargs,word", [({"epochs": -1}, "--epochs"), ({"target": "tflite-fp16"}, "--target"), ({"learning_rate": 2.0}, "--learning-rate")])
def test_config_validation(kwargs, word):
    with pytest.raises(InputError, match=word):
        QatConfig(**kwargs)


def test_scheme_follows_target():
    assert scheme_for(QatConfig(target="tflite-int8")).quantize_states
    s = scheme_for(QatConfig(target="onnx-dynamic"))
    assert s.lstm_gate_blocks == 1 and not s.quantize_activations


def test_qat_model_exports_fused_through_lstm_deploy_export(trained, tmp_path):
    ds, _model_, _before, res = trained["combo"]
    results = export_model(res.model, tmp_path, ExportConfig(formats=("tflite", "onnx"), quantize=("int8", "dynamic"), require_fused=True), data=ds)
    got = {(r.format, r.quantization) for r in results}
    assert {("tflite", "int8"), ("tflite", "dynamic"), ("onnx", "dynamic")} <= got
    # every artifact written is fused and passed; a quantized mode the converter left all-float is noted, not written
    assert all(r.fused and r.passed and (r.artifact.exists() if r.artifact is not None else bool(r.note)) for r in results)
    assert all(r.artifact is not None for r in results if (r.format, r.quantization) in {("tflite", "int8"), ("onnx", "dynamic")})


def test_qat_table_scores_the_artifacts_export_writes(data, tmp_path):
    """One artifact core: the side-by-side table converts exactly what ``export`` writes for the same model and mode.

    TFLite conversion is deterministic, so the bytes must match; tf2onnx numbers its node names
    with a process-wide counter, so for ONNX the scored metric must match exactly.
    """
    import hashlib

    from lstm_deploy import metrics
    from lstm_deploy.runtime import Model

    res = quantize_aware_train(_model("stacked"), data, QatConfig(keep_better=False, epochs=1, batch_size=16, compare=("tflite-int8", "onnx-dynamic")))
    results = export_model(res.tf_keras_model, tmp_path, ExportConfig(quantize=("int8", "dynamic"), max_metric_drop=1.0), data=data)
    written = {(r.format, r.quantization): r.artifact for r in results}
    rows = {row.mode: row for row in res.report.modes}
    assert hashlib.sha256(written["tflite", "int8"].read_bytes()).hexdigest() == rows["tflite-int8"].qat_sha256
    for mode, key in (("tflite-int8", ("tflite", "int8")), ("onnx-dynamic", ("onnx", "dynamic"))):
        scored = metrics.score(data.y_test, Model.load(written[key]).predict(data.x_test), "classification")
        assert scored == rows[mode].qat_metric, mode


def test_simulated_int8_head_breaks_ties_like_the_runtime():
    from lstm_deploy.compress.qat.api import simulate_head

    logits = np.array([[2.0, 2.001, -3.0], [0.0, 1.0, 0.0]], np.float32)  # first row: probabilities 1/256 apart at most
    probs = simulate_head(logits, "softmax")
    assert probs[0, 0] == probs[0, 1] and probs.argmax(-1).tolist() == [0, 1]
    assert np.all(probs * 256 == np.round(probs * 256)) and simulate_head(logits, None) is logits


def test_verdict_says_plainly_when_qat_cannot_reach_float():
    from lstm_deploy.compress.qat.report import ModeRow, QatReport

    def report(ptq, qat):
        r = QatReport("tflite-int8", False, "classification", "accuracy", 0.9, qat, qat, 0, {}, 0.0, 0.0, True, {})
        r.modes = [ModeRow("tflite-int8", 0.9, ptq, qat, 1, 1, "", "", 1.0)]
        r.judge()
        return r

    bad = report(0.85, 0.88)
    assert "could NOT" in bad.verdict and "--quantize dynamic" in bad.verdict and bad.warnings == [bad.verdict]
    good = report(0.85, 0.897)
    assert "within 0.5 points" in good.verdict and not good.warnings
    assert "already that close" in report(0.899, 0.9).verdict


def test_simulation_agrees_with_the_int8_artifact(data):
    model = _model("stacked")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=40, batch_size=8, verbose=0)  # a trained model: no near-ties everywhere
    res = quantize_aware_train(model, data, QatConfig(steps=20, batch_size=16, compare=("tflite-int8",)))
    assert res.report.simulation_agreement is not None and res.report.simulation_agreement >= 0.9
    assert res.report.verdict and res.report.finetune["budget"]["steps"] == 20
