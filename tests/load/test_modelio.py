"""Loading every accepted format, saving in the user's flavour, safe mode, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.load import flavours as bridge
from lstm_deploy.errors import ModelLoadError
from lstm_deploy.load.summary import inspect_model
from lstm_deploy.load.modelio import file_sha256, load_model, save_model

from tests.zoo import ZOO


@pytest.fixture(scope="module")
def saved(tmp_path_factory, keras3, tf_keras):
    d = tmp_path_factory.mktemp("models")
    k3 = ZOO["bidirectional"](keras3)
    tk = ZOO["bidirectional"](tf_keras)
    paths = {"keras3.keras": k3, "tf_keras.keras": tk, "keras3.h5": k3, "tf_keras.h5": tk}
    for name, model in paths.items():
        model.save(d / name)
    tk.save(d / "savedmodel")
    return d, k3, tk


@pytest.mark.parametrize(
    "name,flavour",
    [("keras3.keras", "keras3"), ("tf_keras.keras", "tf_keras"), ("keras3.h5", "keras3"), ("tf_keras.h5", "tf_keras"), ("savedmodel", "tf_keras")],
)
def test_load_every_format_records_flavour(saved, name, flavour):
    d, k3, tk = saved
    loaded = load_model(d / name)
    assert loaded.flavour == flavour
    assert bridge.flavour_of(loaded.model) == flavour
    source = k3 if flavour == "keras3" and "keras3" in name else tk
    inputs = bridge.sample_inputs(source)
    assert bridge.max_abs_diff(bridge.call(source, inputs), bridge.call(loaded.model, inputs)) <= 1e-6
    assert len(loaded.sha256) == 64
    report = inspect_model(loaded.model)  # inspect works the same on every format
    assert report.params == source.count_params() and report.macs == inspect_model(source).macs > 0


@pytest.mark.parametrize("name", ["keras3.keras", "tf_keras.keras"])
def test_load_save_round_trip_keeps_flavour_and_predictions(saved, tmp_path, keras3, tf_keras, name):
    d, _, _ = saved
    loaded = load_model(d / name)
    out = save_model(loaded.tf_keras_model(), tmp_path / "out.keras", flavour=loaded.flavour)
    plain = (keras3 if loaded.flavour == "keras3" else tf_keras).models.load_model(out, compile=False)
    inputs = bridge.sample_inputs(loaded.model, seed=5)
    assert bridge.max_abs_diff(bridge.call(loaded.model, inputs), bridge.call(plain, inputs)) <= 1e-6
    assert bridge.flavour_of(plain) == loaded.flavour


def test_input_file_untouched(saved):
    d, _, _ = saved
    before = file_sha256(d / "keras3.keras")
    loaded = load_model(d / "keras3.keras")
    loaded.tf_keras_model()
    loaded.keras3_model()
    assert file_sha256(d / "keras3.keras") == before


@pytest.fixture(scope="module")
def lambda_files(tmp_path_factory, keras3, tf_keras):
    """The same Lambda model in every format load_model accepts."""
    d = tmp_path_factory.mktemp("lambda")
    for flavour, k in (("keras3", keras3), ("tf_keras", tf_keras)):
        model = k.Sequential([k.Input((6, 3)), k.layers.Lambda(lambda x: x * 2), k.layers.LSTM(2)])
        for suffix in (".keras", ".h5"):
            model.save(d / f"{flavour}{suffix}")
        if flavour == "tf_keras":
            model.save(d / "savedmodel")
    return d


@pytest.mark.parametrize("name", ["keras3.keras", "keras3.h5", "tf_keras.keras", "tf_keras.h5", "savedmodel"])
def test_lambda_refused_in_safe_mode_in_every_format(lambda_files, name):
    path = lambda_files / name
    before = file_sha256(path)
    with pytest.raises(ModelLoadError, match=rf"{name}: refused before loading, it carries code: Lambda layer.*--unsafe"):
        load_model(path)
    loaded = load_model(path, unsafe=True)
    assert [layer.__class__.__name__ for layer in loaded.model.layers] == ["Lambda", "LSTM"]
    assert file_sha256(path) == before


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("corrupt.keras", b"PK\x03\x04 definitely not a zip", "not a valid .keras file"),
        ("notes.txt", b"hello", "unknown model format '.txt'"),
        ("broken.h5", b"\x89HDF garbage", "not a valid HDF5 file"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        load_model(path)
    assert path.read_bytes() == content


def test_missing_and_non_savedmodel_dir(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope.keras")
    with pytest.raises(ModelLoadError, match="not a SavedModel"):
        load_model(tmp_path)


def test_save_rejects_bad_suffix_and_writes_nothing(tmp_path, keras3):
    with pytest.raises(ModelLoadError, match="expected a .keras or .h5"):
        save_model(ZOO["stacked"](keras3), tmp_path / "model.bin")
    assert list(tmp_path.iterdir()) == []


def test_save_converts_flavour(tmp_path, keras3, tf_keras):
    model = ZOO["stacked"](keras3)
    out = save_model(model, tmp_path / "m.keras", flavour="tf_keras")
    loaded = load_model(out)
    assert loaded.flavour == "tf_keras"
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype("float32")
    assert np.allclose(model(x), loaded.model(x), atol=1e-6)
