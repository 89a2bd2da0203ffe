"""Recipe validation: every bad recipe fails before any work, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lstm_deploy.errors import InputError
from lstm_deploy.pipeline.runner import check_inputs, plan
from lstm_deploy.pipeline.recipe import load_recipe, parse_recipe

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))
BASE = {"data": {"kind": "npz", "path": "d.npz"}, "model": {"path": "m.keras"}, "stages": [{"export": {}}]}


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_are_valid_and_round_trip(path):
    recipe = load_recipe(path)
    again = parse_recipe(yaml.safe_load(recipe.to_yaml()))
    assert again == recipe
    assert plan(recipe)[0].startswith("data:")


def test_required_recipes_exist():
    assert {"quickstart", "sentiment", "forecasting", "sensor_classification", "cnn_lstm"} <= {p.stem for p in RECIPES}


@pytest.mark.parametrize(
    "change,message",
    [
        ({"stages": [{"compress": {}}]}, "unknown stage 'compress'; known stages: prune, quantize, optimize, export, caption, benchmark, report"),
        ({"stages": [{"prune": {"sparsity": 1.5}}]}, r"stages\[0\].prune.sparsity: Input should be less than 1 \(got 1.5\)"),
        ({"stages": [{"prune": {"sparsity": "lots"}}]}, r"stages\[0\].prune.sparsity: Input should be a valid number"),
        ({"stages": [{"export": {"formats": ["coreml"]}}]}, r"stages\[0\].export.formats\[0\]: Input should be 'tflite' or 'onnx'"),
        ({"stages": [{"export": {}}, {"prune": {}}]}, "stage 'prune' comes after 'export'; stages must follow the order"),
        ({"stages": [{"export": {"bogus": 1}}]}, r"stages\[0\].export.bogus: Extra inputs are not permitted"),
        ({"model": {}}, "give exactly one of 'path'"),
        ({"data": {"kind": "parquet"}}, "data: Input tag 'parquet' found using 'kind' does not match"),
        ({"data": {"kind": "csv_series", "path": "x.csv", "window": 0}}, r"data.csv_series.window: Input should be greater than 0"),
    ],
)
def test_invalid_recipes_name_the_problem(change, message):
    with pytest.raises(InputError, match=message):
        parse_recipe({**BASE, **change}, source="r.yaml")


def test_missing_files_fail_before_work(tmp_path):
    recipe = parse_recipe(BASE)
    with pytest.raises(InputError, match=r"data.path: .*d.npz does not exist"):
        check_inputs(recipe, tmp_path)
    (tmp_path / "d.npz").write_bytes(b"x")
    with pytest.raises(InputError, match=r"model.path: .*m.keras does not exist"):
        check_inputs(recipe, tmp_path)


def test_yaml_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        load_recipe(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_recipe(tmp_path / "none.yaml")
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="expected a mapping"):
        load_recipe(bad)
