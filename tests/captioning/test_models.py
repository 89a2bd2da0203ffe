"""Captioners (two inputs, CNN encoder, ``initial_state``): bridged both ways and inspected exactly."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.errors import UnsupportedLayerError
from lstm_deploy.load import flavours as bridge
from lstm_deploy.load.summary import inspect_model

from tests.zoo import CAP_IMAGE, CAP_LEN, CAPTION_ZOO, keras_module


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_captioner_bridges_both_ways(name, flavour):
    model = CAPTION_ZOO[name](keras_module(flavour))
    other = bridge.to_tf_keras(model) if flavour == "keras3" else bridge.to_keras3(model)
    back = bridge.to_flavour(other, flavour)
    inputs = bridge.sample_inputs(model, seed=1)  # row 0 of the tokens is post-padded
    assert [t.name.split(":")[0] for t in other.inputs] == ["image", "tokens"]
    for m in (other, back):
        assert m.count_params() == model.count_params()
        assert bridge.max_abs_diff(bridge.call(model, inputs), bridge.call(m, inputs)) <= 1e-5


def _padding_matters(model) -> float:
    image = np.random.default_rng(0).normal(size=(1, *CAP_IMAGE)).astype("float32")
    post, pre = np.array([[3, 4, 5, 0, 0]], "int32"), np.array([[0, 0, 3, 4, 5]], "int32")
    return bridge.max_abs_diff(bridge.call(model, [image, post]), bridge.call(model, [image, pre]))


def test_keras3_drops_the_mask_of_an_lstm_called_with_initial_state():
    """Keras 3.15 runs ``LSTM(...)(x, initial_state=[h, c])`` *without* x's mask; the bridge keeps that exactly."""
    k3 = CAPTION_ZOO["inject_captioner"](keras_module("keras3"))
    assert _padding_matters(k3) > 1e-4  # the padding steps ran: the mask was dropped
    assert _padding_matters(bridge.to_tf_keras(k3)) > 1e-4
    tfk = CAPTION_ZOO["inject_captioner"](keras_module("tf_keras"))
    assert _padding_matters(tfk) == 0.0  # tf_keras applies it ...
    assert _padding_matters(bridge.to_keras3(tfk)) == 0.0  # ... and so does its Keras 3 rebuild (mask= passed explicitly)


def test_initial_state_on_bidirectional_is_refused(keras3):
    L = keras3.layers
    x, h = keras3.Input((CAP_LEN, 3)), keras3.Input((4,))
    out = L.Bidirectional(L.LSTM(4))(x, initial_state=[h, h, h, h])
    with pytest.raises(UnsupportedLayerError, match=r"'bidirectional.*' \(Bidirectional\) is called with initial_state"):
        bridge.to_tf_keras(keras3.Model([x, h], out))


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_inspect_counts_the_cnn(keras3, name):
    model = CAPTION_ZOO[name](keras3)
    report = inspect_model(model)
    assert report.params == model.count_params() == sum(info.params for info in report.layers)
    assert [t.name for t in report.inputs] == ["image", "tokens"]
    convs = [info for info in report.layers if info.type == "Conv2D"]
    first = model.get_layer(convs[0].name)
    # 8x8 output pixels ('same'), 3x3 kernel, 3 input channels, `filters` kernels
    assert convs[0].macs == 8 * 8 * 3 * 3 * 3 * first.filters
    assert report.macs == sum(info.macs for info in report.layers) > sum(info.macs for info in convs) > 0


@pytest.mark.parametrize("name", sorted(CAPTION_ZOO))
def test_inspect_unit_verdicts_match_unit_pruning(keras3, name):
    """Several inputs: inspect asks unit pruning's own graph analysis (the Dense layers joined to the LSTM shrink with it)."""
    from lstm_deploy.compress.prune.units import unit_prune

    model = CAPTION_ZOO[name](keras3)
    report = inspect_model(model)
    lstm = next(info for info in report.layers if info.type.startswith("LSTM"))
    assert lstm.stages["unit_prune"] == "yes" and lstm.stages["magnitude_prune"] == "yes"
    assert lstm.stages["fused_export"] == "yes"
    assert set(unit_prune(model, 0.5).kept) == {lstm.name}
    assert "masked model with several inputs: exports find the padding inside the graph, like Keras" in report.notes


def test_inspect_says_why_an_lstm_fed_by_a_shared_state_keeps_its_units(keras3):
    L = keras3.layers
    image, tokens = keras3.Input(CAP_IMAGE, name="image"), keras3.Input((CAP_LEN,), dtype="int32", name="tokens")
    h0 = L.Dense(6, name="h0")(L.Flatten()(image))
    seq = L.LSTM(6, name="lstm")(L.Embedding(12, 4)(tokens), initial_state=[h0, h0])
    model = keras3.Model([image, tokens], L.Concatenate()([seq, h0]))  # h0 is also an output path
    lstm = next(info for info in inspect_model(model).layers if info.name == "lstm")
    assert lstm.stages["unit_prune"] == "no: its initial_state comes from 'h0', which also feeds other layers"
