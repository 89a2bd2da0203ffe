"""Default-flag pruning that misses its target says so and names --max-metric-drop (fast tier: the rule itself, no model)."""

from __future__ import annotations

from lstm_deploy.compress.prune.api import target_missed


def test_magnitude_and_units_targets_on_accuracy():
    assert target_missed("magnitude", 0.8, "classification", 0.976, 0.970) is None  # 0.6 points: within 1 point
    miss = target_missed("magnitude", 0.8, "classification", 0.976, 0.954)  # the BiLSTM: 2.2 points
    assert miss and "magnitude 80%" in miss and "--max-metric-drop 0.01" in miss and "sparsity you asked for is kept" in miss
    assert target_missed("units", 0.5, "classification", 0.976, 0.960) is None  # 1.6 points: within 2
    assert "--max-metric-drop 0.02" in (target_missed("units", 0.5, "classification", 0.976, 0.951) or "")
    assert target_missed("magnitude", 0.0, "classification", 0.9, 0.5) is None  # nothing pruned, nothing to say


def test_regression_targets_are_shares_of_rmse():
    assert target_missed("units", 0.5, "regression", 0.10, 0.109) is None  # +9 % RMSE: within 10 %
    miss = target_missed("units", 0.5, "regression", 0.10, 0.188)  # the forecaster: +88 %
    assert miss and "10% of its RMSE" in miss and "--max-metric-drop 0.01" in miss
