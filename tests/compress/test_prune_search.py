"""``--max-metric-drop``: the sparsity search on a real trained model, checked against pruning by hand."""

from __future__ import annotations

import numpy as np

from lstm_deploy.compress import holdout
from lstm_deploy.compress.prune import PruneConfig, prune_model
from lstm_deploy.compress.prune.units import unit_prune
from lstm_deploy.load.dataset import load_data

from tests.zoo import trained_classifier


def test_search_finds_the_highest_sparsity_within_budget_on_a_trained_model():
    """LSTM(40) classifier (validation accuracy 1.0): removing 95 % of its units breaks it, fewer do not.

    Budget 0: no validation sample may be lost. Units without fine-tuning keep the run fast
    and every attempt exactly reproducible by calling ``unit_prune`` directly.
    """
    model, data_path = trained_classifier()
    ds = load_data(data_path)
    config = PruneConfig(sparsity=0.95, method="units", epochs=0, max_metric_drop=0.0, search_steps=4)
    result = prune_model(model, ds, config, measure_latency=False)
    curve, best = result.report.search, result.report.target_sparsity
    rows = holdout.choose(ds, config.seed)  # the rows the search judges on: half of x_test, never training rows

    def val_accuracy(m):  # by hand, not lstm_deploy.metrics
        return float(np.mean(np.asarray(m(rows.x_select, training=False)).argmax(-1) == rows.y_select))

    assert val_accuracy(model) == 1.0
    assert curve[0]["sparsity"] == 0.95 and curve[0]["ok"] is False  # the requested sparsity is over budget ...
    assert len(curve) == 1 + config.search_steps and all("ok" in p for p in curve)  # ... so it bisected
    passing = [p["sparsity"] for p in curve if p["ok"]]
    assert passing and best == max(passing) and 0 < best < 0.95
    for point in curve:  # every recorded verdict is what pruning by hand gives on the same split
        assert point["ok"] == (val_accuracy(unit_prune(model, point["sparsity"]).model) == 1.0), point
    nearest_failure = min(p["sparsity"] for p in curve if not p["ok"] and p["sparsity"] > best)
    assert nearest_failure - best <= 0.95 / 2 ** config.search_steps + 1e-9  # bisection narrowed the bracket
    assert val_accuracy(result.model) == 1.0 and result.report.achieved_sparsity > 0
    assert result.model.get_layer(model.layers[0].name).units == model.layers[0].units - round(best * model.layers[0].units)
