"""Bridge parity (Keras 3 <-> tf_keras) and canonicalization, for every supported layer."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.load import flavours as bridge
from lstm_deploy.errors import BridgeError, UnsupportedLayerError
from lstm_deploy.load.layers import SUPPORTED

from tests.zoo import ZOO, layer_classes


def test_zoo_covers_registry(keras3):
    covered: set[str] = set()
    for build in ZOO.values():
        covered |= layer_classes(build(keras3))
    missing = SUPPORTED - covered
    assert not missing, f"supported layers without a zoo model: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(ZOO))
def test_keras3_to_tf_keras_and_back(keras3, name):
    model = ZOO[name](keras3)
    tfk = bridge.to_tf_keras(model)  # verifies internally; also check independently
    assert bridge.flavour_of(tfk) == "tf_keras"
    inputs = bridge.sample_inputs(model, seed=1)
    assert bridge.max_abs_diff(bridge.call(model, inputs), bridge.call(tfk, inputs)) <= 1e-5
    assert tfk.count_params() == model.count_params()
    back = bridge.to_keras3(tfk)
    assert bridge.flavour_of(back) == "keras3"
    for m in (model, back):  # stateful models carry state between calls
        bridge.reset_states(m)
    assert bridge.max_abs_diff(bridge.call(model, inputs), bridge.call(back, inputs)) <= 1e-5


@pytest.mark.parametrize("name", ["stacked", "bidirectional", "embedding_masked", "conv_lstm"])
def test_tf_keras_to_keras3(tf_keras, name):
    model = ZOO[name](tf_keras)
    k3 = bridge.to_keras3(model)
    inputs = bridge.sample_inputs(model, seed=2)
    assert bridge.flavour_of(k3) == "keras3"
    assert bridge.max_abs_diff(bridge.call(model, inputs), bridge.call(k3, inputs)) <= 1e-5


def test_canonicalize_rnn_cells_into_lstm(keras3):
    model = ZOO["rnn_cells"](keras3)
    canon, changes = bridge.canonicalize(model)
    assert len(changes) == 2
    assert [layer.__class__.__name__ for layer in canon.layers] == ["LSTM", "LSTM", "LSTM", "Dense"]
    assert canon.layers[1].return_sequences and not canon.layers[2].return_sequences
    inputs = bridge.sample_inputs(model)
    assert bridge.max_abs_diff(bridge.call(model, inputs), bridge.call(canon, inputs)) <= 1e-5
    assert model.layers[0].__class__.__name__ == "RNN"  # the input model is untouched


def test_canonicalize_is_identity_without_rnn(keras3):
    model = ZOO["stacked"](keras3)
    same, changes = bridge.canonicalize(model)
    assert same is model and changes == []


def test_verification_catches_a_wrong_rebuild(keras3):
    model = ZOO["stacked"](keras3)
    broken = bridge.to_tf_keras(model)
    weights = broken.layers[0].get_weights()
    broken.layers[0].set_weights([w + 0.1 for w in weights])
    with pytest.raises(BridgeError, match="max abs difference"):
        bridge.verify_same(model, broken, "test")


def test_unsupported_layer_named_with_position(keras3):
    L = keras3.layers
    model = keras3.Sequential([keras3.Input((6, 3)), L.LSTM(4, return_sequences=True), L.SimpleRNN(2)])
    with pytest.raises(UnsupportedLayerError, match=r"layer 1 'simple_rnn.*' \(SimpleRNN\) is not supported; supported layers: .*LSTM"):
        bridge.to_tf_keras(model)


def test_rnn_over_unsupported_cell_is_refused(keras3):
    L = keras3.layers
    model = keras3.Sequential([keras3.Input((6, 3)), L.RNN(L.SimpleRNNCell(3))])
    with pytest.raises(UnsupportedLayerError, match="SimpleRNNCell"):
        bridge.read_graph(model)


def test_sample_inputs_fit_embedding_vocab(keras3):
    model = ZOO["embedding_masked"](keras3)
    (x,) = bridge.sample_inputs(model)
    assert x.dtype == np.int32 and x.max() < 12 and (x == 0).any()


def test_ambiguous_activation_is_refused_not_changed(keras3):
    L = keras3.layers
    model = keras3.Sequential([keras3.Input((6, 3)), L.LSTM(3, recurrent_activation="hard_sigmoid")])
    with pytest.raises(BridgeError, match="hard_sigmoid.*different function"):
        bridge.to_tf_keras(model)
