"""optimize's winner keeps the budget on the full x_test, and its ratios read the right way round (issue 26).

Tier: slow (one real 3-trial search on an LSTM(96) regressor, ~1.5 min).

The data make the validation split blind to what x_test sees: ``y_val`` = the model's own output
plus noise 30x its spread (every compressed model's RMSE there moves by well under the budget,
so every trial is feasible and becomes a finalist), ``y_test`` = the model's own output (the
source RMSE is 0, so a finalist's test RMSE is exactly how far it moved). The three latency
starting points keep 50 %, 25 % and 100 % of the units with dynamic int8: the pruned ones are
the fastest and move far (out of budget on x_test); only the unpruned one stays within it.

Every check reads report.json's own fields (:func:`_fields` is the one place that knows their
names) and recomputes what they claim by hand: the drop from the baseline's x_test metric, the
winner's RMSE on all of x_test through the runtime, the ratios as quotients of the reported figures.

Caught: ``_winner`` without the budget filter (the 25 % finalist won: drop 1.9 > budget 0.2);
``_ratios`` returning ``best / baseline`` latency (speedup 0.48 instead of 2.1).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow
T, F, UNITS = 40, 4, 96


def _fields(report: dict) -> dict:
    """What the checks need from report.json, by meaning (adapt here if the schema's names move)."""
    def entry(e: dict) -> dict:
        return {"artifact": e["artifact"], "metric": e["metric"], "latency_ms": e["latency_ms"], "size_bytes": e["size_bytes"],
                "gzip_bytes": e.get("gzip_bytes"), "kind": e.get("kind"), "within_budget": e.get("within_budget")}
    return {"metric": report["metric"], "budget": report["max_metric_drop"], "baseline": entry(report["baseline"]),
            "best": {**entry(report["best"]), "speedup": report["best"]["speedup"], "size_ratio": report["best"]["size_ratio"]},
            "finalists": [entry(f) for f in report["finalists"]]}


def _drop(metric: str, baseline: float, other: float) -> float:
    """How much worse ``other`` is than ``baseline`` in the metric's own unit (by hand, not lstm_deploy.metrics)."""
    return (baseline - other) if metric == "accuracy" else (other - baseline)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    import tf_keras

    from lstm_deploy.load.flavours import predict
    from lstm_deploy.load.modelio import save_model
    from lstm_deploy.optimize import OptimizeConfig, optimize_model

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((T, F)), tf_keras.layers.LSTM(UNITS), tf_keras.layers.Dense(1)])
    kernel, bias = model.layers[1].get_weights()
    model.layers[1].set_weights([kernel * 10.0, bias])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2360, T, F)).astype(np.float32)
    y = predict(model, x).astype(np.float32)
    spread = float(y.std())
    tmp = tmp_path_factory.mktemp("winner")
    data = tmp / "data.npz"
    np.savez(data, x_train=x[:200], y_train=y[:200], x_val=x[200:2200],
             y_val=y[200:2200] + rng.normal(0.0, 30.0 * spread, (2000, 1)).astype(np.float32), x_test=x[2200:], y_test=y[2200:])
    budget = round(0.2 * spread, 4)
    cfg = OptimizeConfig(format="onnx", objective="latency", trials=3, finetune_steps=8, qat_steps=0, finalists=3,
                         max_metric_drop=budget, time_budget=None)
    result = optimize_model(save_model(model, tmp / "reg.keras", flavour="tf_keras"), data, tmp / "opt", cfg)
    report = json.loads((tmp / "opt" / "report.json").read_text())
    return {"out": tmp / "opt", "report": report, "x_test": x[2200:], "y_test": y[2200:], "result": result}


def test_the_data_put_faster_finalists_out_of_budget(searched):
    """Precondition of the next test: without the budget a smaller (fewer units: faster), worse finalist would win.

    Judged by size, which is deterministic: a latency gap of a few microseconds between such
    finalists flipped once on a loaded machine (0.049 vs 0.046 ms).
    """
    f = _fields(searched["report"])
    out = [e for e in f["finalists"] if _drop(f["metric"], f["baseline"]["metric"], e["metric"]) > f["budget"]]
    assert out and min(e["size_bytes"] for e in out) < f["best"]["size_bytes"], f


def test_winner_keeps_the_budget_on_the_full_x_test(searched):
    f = _fields(searched["report"])
    best, baseline = f["best"], f["baseline"]
    assert _drop(f["metric"], baseline["metric"], best["metric"]) <= f["budget"] + 1e-9, f
    assert best["kind"] == "finalist" and best["within_budget"] is True  # here one finalist does keep it
    # recomputed apart: the winner's RMSE on every x_test row through the runtime. Dynamic int8 quantizes activations per
    # call, so the figure depends on how rows are batched (here 0.0084 row by row, 0.0130 in one call, 0.0132 reported):
    # both batchings must keep the budget.
    from lstm_deploy.runtime import Model

    winner = Model.load(searched["out"] / best["artifact"])
    x, y = searched["x_test"], searched["y_test"].astype(np.float64)
    for got in (winner.predict(x), np.concatenate([winner.predict(x[i:i + 1]) for i in range(len(x))])):
        rmse = float(np.sqrt(np.mean((got.astype(np.float64) - y) ** 2)))
        assert f["metric"] == "rmse" and _drop("rmse", baseline["metric"], rmse) <= f["budget"], (rmse, f)


def test_speedup_and_size_ratio_are_baseline_over_winner(searched):
    f = _fields(searched["report"])
    best, baseline = f["best"], f["baseline"]
    assert best["latency_ms"] != baseline["latency_ms"]  # otherwise an inverted ratio could not show
    assert best["speedup"] == pytest.approx(baseline["latency_ms"] / best["latency_ms"], abs=1e-3)
    assert best["size_ratio"] == pytest.approx(baseline["size_bytes"] / best["size_bytes"], abs=1e-3)
    # (the latency objective may crown an fp32 export on a loaded machine: size_ratio 1.0 is then right, and the
    # latency ratio above, whose two sides differ, is the one an inversion cannot pass)
