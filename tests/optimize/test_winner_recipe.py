"""The winner's ``recipe.yaml`` is a valid recipe that rebuilds exactly the trial's stage configs.

Fast tier (no model, no search). ``optimize`` lies a floor below ``pipeline`` and writes the
recipe without the recipe schema, so this test is where the two meet: what
``optimize.report._recipe`` writes must parse with ``pipeline.recipe`` into the same configs
the trial ran.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from lstm_deploy.bench.config import BenchConfig
from lstm_deploy.compress.prune.config import PruneConfig
from lstm_deploy.compress.qat.config import QatConfig
from lstm_deploy.export.config import ExportConfig
from lstm_deploy.load.dataset import Dataset
from lstm_deploy.optimize.config import OptimizeConfig
from lstm_deploy.optimize.report import _recipe
from lstm_deploy.optimize.trial import FINETUNE_BATCH, OPEN_METRIC_GATE, _stage
from lstm_deploy.pipeline.recipe import parse_recipe
from lstm_deploy.pipeline.stages import ReportConfig


def _run(tmp_path: Path, data_path: Path | None) -> SimpleNamespace:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 5, 3)).astype("float32"), np.arange(8) % 2
    dataset = Dataset(x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    loaded = SimpleNamespace(path=tmp_path / "my model (v2).keras")
    return SimpleNamespace(out=tmp_path, config=OptimizeConfig(objective="size", seed=3), dataset=dataset, data_path=data_path, loaded=loaded)


def test_a_finalists_recipe_parses_into_the_configs_the_trial_ran(tmp_path):
    configs = [
        PruneConfig(method="units", sparsity=0.25, layers=("lstm",), per_layer=True, steps=0, batch_size=FINETUNE_BATCH, val_fraction=0.2, seed=3),
        PruneConfig(method="magnitude", sparsity=0.5, steps=40, batch_size=FINETUNE_BATCH, val_fraction=0.2, seed=3),
        QatConfig(target="tflite-int8", steps=20, val_fraction=0.2, seed=3, compare=()),
        ExportConfig(formats=("tflite",), quantize=("int8",), batch_size=4, max_metric_drop=OPEN_METRIC_GATE, seed=3),
        BenchConfig(runtimes=("tflite",), threads=(2,), batch_sizes=(4,), include_keras=False),
    ]
    best = {"kind": "finalist", "outcome": {"stages": [_stage(c) for c in configs]}}
    text = _recipe(_run(tmp_path, tmp_path / "data.npz"), best)

    recipe = parse_recipe(yaml.safe_load(text), source="recipe.yaml")
    assert list(recipe.stages) == [*configs, ReportConfig()]
    assert recipe.name == "optimized-my-model-v2" and recipe.seed == 3 and "(size)" in recipe.description
    assert recipe.data.path == str((tmp_path / "data.npz").resolve()) and recipe.model.path == str((tmp_path / "my model (v2).keras").resolve())


@pytest.mark.parametrize("fmt, runtime", [("onnx", "onnxruntime"), ("tflite", "tflite")])
def test_a_baselines_recipe_exports_and_benchmarks_the_original(tmp_path, fmt, runtime):
    """A baseline winner in memory: its arrays are shipped beside the recipe, which exports fp32 and benchmarks it."""
    run = _run(tmp_path, None)
    recipe = parse_recipe(yaml.safe_load(_recipe(run, {"kind": "baseline", "format": fmt})))
    export, bench, report = recipe.stages
    assert (export.formats, export.quantize, bench.runtimes, bench.include_keras) == ((fmt,), ("fp32",), (runtime,), False)
    assert report == ReportConfig()
    with np.load(recipe.data.path) as shipped:
        assert sorted(shipped.files) == ["x_test", "x_train", "y_test", "y_train"]
        np.testing.assert_array_equal(shipped["x_train"], run.dataset.x_train)
