"""The data contract for several inputs: x_<split>__<input name> in the one .npz, checked per input."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.errors import DataError
from lstm_deploy.load.dataset import load_data, rows, take

INPUTS = {"image": (8, 8, 3), "tokens": (5,)}


def _arrays(n_train: int = 6, n_test: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        out[f"x_{split}__image"] = rng.random((n, 8, 8, 3))  # float64: read as float32
        out[f"x_{split}__tokens"] = rng.integers(0, 12, (n, 5))
        out[f"y_{split}"] = rng.integers(0, 12, n)
    return out


def _load(tmp_path, arrays, **kwargs):
    path = tmp_path / "captions.npz"
    np.savez(path, **arrays)
    return load_data(path, model_inputs=INPUTS, model_output_shape=(12,), **kwargs)


def test_per_input_arrays_load_as_dicts_in_model_order(tmp_path):
    ds = _load(tmp_path, _arrays())
    assert list(ds.x_train) == ["image", "tokens"] and ds.x_train["image"].dtype == np.float32
    assert rows(ds.x_test) == 3 and ds.task == "classification"
    x_tr, _, x_val, _ = ds.train_val_split(0.34)
    assert rows(x_tr) == 4 and rows(x_val) == 2 and take(ds.x_train, [0])["tokens"].shape == (1, 5)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("x_test__tokens"), r"x_test__tokens is missing; the model's inputs are image, tokens"),
    (lambda a: a.update(x_train__caption=a["x_train__tokens"]), r"x_train__caption names no input of the model"),
    (lambda a: a.update(x_train__image=a["x_train__image"][:, :4]), r"x_train__image has sample shape \(4, 8, 3\); the model's input 'image' expects \(8, 8, 3\)"),
    (lambda a: a.update(x_train__tokens=a["x_train__tokens"][:5]), r"different numbers of samples: x_train__image 6, x_train__tokens 5"),
    (lambda a: a["x_test__image"].__setitem__((0, 0, 0, 0), np.nan), r"x_test__image contains 1 NaN/inf"),
])
def test_each_input_is_checked_and_named(tmp_path, change, message):
    arrays = _arrays()
    change(arrays)
    with pytest.raises(DataError, match=message):
        _load(tmp_path, arrays)


def test_plain_x_train_for_a_multi_input_model_says_what_to_save(tmp_path):
    arrays = {"x_train": np.zeros((4, 5)), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 5)), "y_test": np.zeros(2, int)}
    with pytest.raises(DataError, match=r"the model has 2 inputs \(image, tokens\); save one array per input and split: x_train__image, x_train__tokens"):
        _load(tmp_path, arrays)
