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
    # 100 * 4*128*(32+128) + 100 * 4*128*(128+128) + 128*5 -- the 21.3 M MACs of FACTS.md.
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
    report = inspect_model(ZOO["lstm_options"](keras3))
    by_name = {layer.type: layer.stages for layer in report.layers}
    assert by_name["LSTM(4)"] == {"magnitude_prune": "yes", "unit_prune": "yes", "qat": "yes", "fused_export": "yes"}
    assert by_name["GRU(3)"]["fused_export"].startswith("no: TFLite has no fused GRU")
    assert by_name["Dense(1)"]["unit_prune"] == "no: not an LSTM layer"


def test_json_has_required_keys(keras3):
    data = inspect_model(ZOO["stacked"](keras3)).to_dict()
    assert isinstance(data["params"], int) and isinstance(data["macs"], int) and isinstance(data["layers"], list)
    assert data["inputs"][0]["shape"] == [None, 6, 3]
