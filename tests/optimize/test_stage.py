"""The ``optimize:`` recipe stage: registered before export, runs the search, hands its winner to the next stages."""

from __future__ import annotations

import json

import pytest

from lstm_deploy.errors import InputError
from lstm_deploy.pipeline.recipe import parse_recipe
from lstm_deploy.pipeline.stages import STAGE_ORDER, STAGES
from tests import zoo


def _recipe(tmp_path, stages):
    return {"data": {"kind": "npz", "path": str(tmp_path / "d.npz")}, "model": {"path": str(tmp_path / "m.keras")}, "stages": stages}


def test_optimize_is_registered_where_it_replaces_prune_quantize_export():
    assert STAGE_ORDER.index("quantize") < STAGE_ORDER.index("optimize") < STAGE_ORDER.index("export")
    assert STAGES["optimize"].config(objective="size").objective == "size"


def test_recipe_options_are_the_config_and_errors_say_where(tmp_path):
    recipe = parse_recipe(_recipe(tmp_path, [{"optimize": {"objective": "size", "trials": 5}}, "benchmark"]))
    assert recipe.stages[0].trials == 5 and recipe.stages[0].max_metric_drop == 0.01
    with pytest.raises(InputError, match=r"stages\[0\]\.optimize\.objective"):
        parse_recipe(_recipe(tmp_path, [{"optimize": {"objective": "speed"}}]))
    with pytest.raises(InputError, match="stage 'optimize' comes after 'export'"):
        parse_recipe(_recipe(tmp_path, ["export", "optimize"]))


def test_optimize_stage_runs_and_the_benchmark_measures_its_winner(tmp_path):
    from lstm_deploy.load.modelio import save_model
    from lstm_deploy.pipeline.runner import run_recipe

    model, data = zoo.trained_classifier()
    save_model(model, tmp_path / "m.keras", flavour="tf_keras")
    (tmp_path / "d.npz").write_bytes(data.read_bytes())
    recipe = parse_recipe(_recipe(tmp_path, [{"optimize": {"format": "onnx", "trials": 1, "time_budget": 10}},
                                             {"benchmark": {"runtimes": ["onnxruntime"], "include_keras": False}}, "report"]))
    result = run_recipe(recipe, tmp_path / "run", small=True)
    step = next(s for s in result.steps if s.name == "optimize")
    report = json.loads((tmp_path / "run" / step.outputs["report"]).read_text())
    assert step.summary["artifact"] == report["best"]["artifact"] and step.summary["trials"] == 1
    bench = json.loads((tmp_path / "run" / "benchmark" / "report.json").read_text())
    assert [r["artifact"] for r in bench["results"] if r["status"] == "ok"] == [report["best"]["artifact"]]
    assert (tmp_path / "run" / "optimize" / "recipe.yaml").is_file() and result.report_html.is_file()
