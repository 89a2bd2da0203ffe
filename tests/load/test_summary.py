"""inspect: exact parameter counts, MAC formulas, stage applicability, JSON shape."""

from __future__ import annotations

import pytest

from lstm_deploy.errors import InputError
from lstm_deploy.load.summary import inspect_model

from tests.zoo import ZOO


@pytest.mark.parametrize("name", sorted(ZOO))
@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_params_match_count_params(request, name, flavour):
    k = request.getfixturevalue(flavour)
    model = ZOO[name](k)
    report = inspect_model(model, seq_len=6)
    assert report.params == model.count_params()
    assert sum(layer.params for layer in report.layers) == report.params
    assert report.macs > 0


def test_lstm_mac_formula_matches_reference(keras3):
    L = keras3.layers
    model = keras3.Sequential([keras3.Input((100, 32)), L.LSTM(128, return_sequences=True), L.LSTM(128), L.Dense(5)])
    report = inspect_model(model)
    # 100 * 4*128*(32+128) + 100 * 4*128*(128+128) + 128*5 = 21.3 M MACs, by hand.
    assert report.macs == 100 * 4 * 128 * 160 + 100 * 4 * 128 * 256 + 128 * 5
    assert report.weight_bytes == {"fp32": report.params * 4, "fp16": report.params * 2, "int8": report.params}


def test_bidirectional_conv_and_timedistributed_macs(keras3):
    L = keras3.layers
    i = keras3.Input((10, 3))
    c = L.Conv1D(4, 3)(i)  # 8 positions * 3 * 3 * 4
    b = L.Bidirectional(L.LSTM(2, return_sequences=True))(c)  # 2 * 8 * 4*2*(4+2)
    t = L.TimeDistributed(L.Dense(5))(b)  # 8 * 4 * 5
    d = L.Dense(1)(t)  # 8 * 5 * 1
    report = inspect_model(keras3.Model(i, d))
    assert [layer.macs for layer in report.layers] == [8 * 3 * 3 * 4, 2 * 8 * 4 * 2 * 6, 8 * 4 * 5, 8 * 5]


def test_stacked_cells_macs_equal_lstm_layers(keras3):
    report = inspect_model(ZOO["rnn_cells"](keras3))
    rnn2 = report.layers[1]
    assert rnn2.macs == 6 * 4 * 4 * (4 + 4) + 6 * 4 * 3 * (4 + 3)
    assert rnn2.stages["fused_export"].startswith("yes")


def test_dynamic_length_needs_seq_len(keras3):
    with pytest.raises(InputError, match="--seq-len"):
        inspect_model(ZOO["regression"](keras3))
    assert inspect_model(ZOO["regression"](keras3), seq_len=50).macs == 50 * 4 * 4 * (3 + 4) + 4


def test_stage_applicability_explains_no(keras3):
    """LSTM(activation="relu", recurrent_activation="tanh", no bias, recurrent dropout): QAT refuses it, no format fuses it.

    (tests/load/test_inspect_truth.py checks every such verdict against real conversions and QAT runs.)
    """
    report = inspect_model(ZOO["lstm_options"](keras3))
    by_name = {layer.type: layer.stages for layer in report.layers}
    lstm = by_name["LSTM(4)"]
    assert lstm["magnitude_prune"] == "yes" and lstm["unit_prune"] == "yes"
    assert lstm["qat"] == "no: activation='relu', recurrent_activation='tanh'; the fused kernels need tanh/sigmoid"
    assert lstm["fused_export"] == lstm["fused_tflite"] == lstm["fused_onnx"] == (
        "no: recurrent_dropout > 0 keeps the generic RNN loop (TFLite WHILE / ONNX Loop) even at inference")
    gru = by_name["GRU(3)"]
    assert gru["fused_export"] == "no: TFLite: no fused GRU op (runs as a WHILE loop); ONNX: fuses it"
    assert gru["fused_onnx"] == "yes" and gru["qat"].startswith("no: GRU is not supported")
    assert by_name["Dense(1)"]["unit_prune"] == "no: not an LSTM layer" and by_name["Dense(1)"]["fused_export"] == "n/a (not recurrent)"
    assert report.stages["export"] == "yes"
    assert report.stages["qat"].startswith(f"no: layer '{report.layers[0].name}' (LSTM): activation='relu'")
    assert any(note.startswith("QAT: no: layer") for note in report.notes)  # the CLI prints notes under the table


def test_relu_lstm_alone_fuses_in_onnx_only(keras3):
    L = keras3.layers
    report = inspect_model(keras3.Sequential([keras3.Input((6, 3)), L.LSTM(4, activation="relu"), L.Dense(2)]))
    stages = report.layers[0].stages
    assert stages["fused_tflite"].startswith("no: runs as a WHILE loop: activation='relu'") and stages["fused_onnx"] == "yes"
    assert stages["fused_export"].startswith("no: TFLite: runs as a WHILE loop") and stages["fused_export"].endswith("ONNX: fuses it")


def test_json_has_required_keys(keras3):
    data = inspect_model(ZOO["stacked"](keras3)).to_dict()
    assert isinstance(data["params"], int) and isinstance(data["macs"], int) and isinstance(data["layers"], list)
    assert data["inputs"][0]["shape"] == [None, 6, 3]
