"""The .npz data contract: every malformed input gets a clear DataError."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.load.dataset import load_data
from lstm_deploy.errors import DataError

from tests.helpers import make_npz


def test_valid_file_infers_classification(tmp_path):
    ds = load_data(make_npz(tmp_path / "d.npz"), model_input_shape=(6, 3))
    assert ds.task == "classification" and ds.x_train.dtype == np.float32
    x, y, xv, yv = ds.train_val_split(0.25)
    assert len(x) + len(xv) == 24 and len(xv) == 6


def test_regression_and_one_hot(tmp_path):
    reg = load_data(make_npz(tmp_path / "r.npz", y_train=np.random.rand(24, 1), y_test=np.random.rand(12, 1)))
    assert reg.task == "regression"
    onehot = np.eye(3)[np.arange(24) % 3]
    cls = load_data(make_npz(tmp_path / "c.npz", y_train=onehot, y_test=onehot[:12]))
    assert cls.task == "classification" and list(cls.labels(cls.y_train[:4])) == [0, 1, 2, 0]


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"y_test": None}, "missing array\\(s\\) y_test"),
        ({"x_train": np.full((24, 6, 3), np.nan, dtype=np.float32)}, "x_train contains 432 NaN/inf"),
        ({"x_test": np.zeros((0, 6, 3), dtype=np.float32), "y_test": np.zeros(0, dtype=int)}, "x_test is empty"),
        ({"y_train": np.zeros(5, dtype=int)}, "x_train has 24 samples but y_train has 5"),
        ({"x_test": np.zeros((12, 7, 3), dtype=np.float32)}, r"x_test has sample shape \(7, 3\); the model expects \(6, 3\)"),
        ({"x_val": np.zeros((3, 6, 3), dtype=np.float32)}, "x_val and y_val must be given together"),
        ({"x_train": np.array(["a"] * 24)}, "x_train has dtype <U1; expected a numeric array"),
    ],
)
def test_malformed_data(tmp_path, overrides, message):
    path = make_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DataError, match=message):
        load_data(path, model_input_shape=(6, 3))


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1), x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(DataError, match="pickled Python objects"):
        load_data(path)


def test_not_an_npz(tmp_path):
    path = tmp_path / "data.npz"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_data(path)
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "missing.npz")
