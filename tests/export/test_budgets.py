"""Regression budgets: an RMSE increase over --max-metric-drop fails the artifact, by hand and end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_deploy.errors import ParityError
from lstm_deploy.export import ExportConfig, export_model
from lstm_deploy.export.parity import compare
from lstm_deploy.load.dataset import validate_arrays

from tests.helpers import bare_tflite_predict
from tests.zoo import EXPORT_ZOO, F, T, seeded

Y = np.array([[0.0], [1.0], [2.0], [3.0]])
SOURCE = Y + np.array([[0.1], [-0.1], [0.1], [-0.1]])  # RMSE 0.1
ARTIFACT = Y + np.array([[0.3], [-0.3], [0.3], [-0.3]])  # RMSE 0.3: 0.2 worse


@pytest.mark.parametrize("budget, passed", [(0.19, False), (0.21, True), (None, False)])  # None: 5 % of the source RMSE = 0.005
def test_rmse_budget_by_hand(budget, passed):
    report = compare(SOURCE, ARTIFACT, quantization="dynamic", inputs="x_test", labels=Y, task="regression", max_metric_drop=budget)
    assert report.metric == "rmse"
    assert report.metric_source == pytest.approx(0.1) and report.metric_artifact == pytest.approx(0.3)
    assert report.metric_drop == pytest.approx(0.2) and report.passed is passed
    limit = 0.005 if budget is None else budget
    assert report.message == f"rmse 0.1 -> 0.3 (drop +0.2 {'<=' if passed else '>'} {limit:.4g})"


def test_a_better_artifact_is_no_drop():
    report = compare(ARTIFACT, SOURCE, quantization="int8", inputs="x_test", labels=Y, task="regression", max_metric_drop=0.0)
    assert report.metric_drop == pytest.approx(-0.2) and report.passed


def test_int8_regression_artifact_over_its_rmse_budget_is_not_written(tmp_path):
    """End to end: the same int8 artifact passes a loose budget and fails one just below its own RMSE increase.

    The targets are the float model's own outputs, so the source RMSE is exactly 0 and the
    artifact's RMSE (computed here through the bare LiteRT API) is its whole drop.
    """
    model = EXPORT_ZOO["bidir_regression"](seeded("tf_keras"))
    x = np.random.default_rng(3).normal(size=(48, T, F)).astype(np.float32)
    y = np.asarray(model(x, training=False))
    data = validate_arrays({"x_train": x[:32], "y_train": y[:32], "x_test": x[32:], "y_test": y[32:]})
    config = ExportConfig(formats=("tflite",), quantize=("fp32", "int8"), max_metric_drop=1.0)
    results = export_model(model, tmp_path, config, data=data, name="reg")
    int8 = next(r for r in results if r.quantization == "int8")
    drop = float(np.sqrt(np.mean((bare_tflite_predict(int8.artifact, data.x_test) - data.y_test) ** 2)))
    assert drop > 0 and int8.parity.metric_drop == pytest.approx(drop, rel=1e-5)
    assert json.loads(int8.manifest.read_text())["parity"]["metric"] == "rmse"

    with pytest.raises(ParityError, match=r"tflite int8: rmse 0 -> .* \(drop \+.* > .*\) -- no artifact was written"):
        export_model(model, tmp_path, config.replace(max_metric_drop=drop * 0.9), data=data, name="reg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg.fp32.tflite", "reg.fp32.tflite.json"]  # the stale int8 one is gone too
