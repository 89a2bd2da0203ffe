"""The deployment search on a captioner: two inputs through every trial (units across the Add, post-training int8 weights)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.zoo import CAPTION_ZOO, caption_dataset, keras_module

pytestmark = pytest.mark.slow  # slow tier: a real optimize search over a captioner


def test_optimize_searches_a_captioner_and_its_winner_runs(tmp_path):
    from lstm_deploy import metrics
    from lstm_deploy.optimize import OptimizeConfig, optimize_model
    from lstm_deploy.runtime import Model

    model = CAPTION_ZOO["merge_captioner"](keras_module("keras3"))
    model.save(tmp_path / "cap.keras")
    ds = caption_dataset(48)
    np.savez(tmp_path / "d.npz", **{f"{s}__{k}": v for s in ("x_train", "x_test") for k, v in getattr(ds, s).items()},
             y_train=ds.y_train, y_test=ds.y_test)
    optimize_model(tmp_path / "cap.keras", tmp_path / "d.npz", tmp_path / "out",
                   # random labels: any drop is noise, so no trial may be cut for its budget (that made the test flaky)
                   OptimizeConfig(format="onnx", trials=2, finetune_steps=4, finalists=1, max_metric_drop=1.0))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["search"]["trials_finished"] == 2 and all(t["status"] == "ok" for t in report["trials"]), report["trials"]
    best = report["best"]
    winner = Model.load(tmp_path / "out" / best["artifact"])
    assert winner.manifest["input_names"] == ["image", "tokens"]
    # best["metric"] is on the confirmation half; test_metric is the same artifact scored on every x_test row
    assert metrics.score(ds.y_test, winner.predict(ds.x_test), ds.task) == pytest.approx(best["test_metric"])
