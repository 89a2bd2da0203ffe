"""Recipes end to end in --small mode, re-run skipping, and the run command's CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import run_cli
from lstm_deploy.pipeline.runner import check_inputs, run_recipe
from lstm_deploy.pipeline.recipe import load_recipe, parse_recipe

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
RECIPES = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


# Slow tier: every recipe end to end (minutes each; `make test-slow` spreads them over the workers).
@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_runs_end_to_end_in_small_mode(tmp_path, name):
    recipe = load_recipe(RECIPES_DIR / f"{name}.yaml")
    lines: list[str] = []
    result = run_recipe(recipe, tmp_path / name, recipe_dir=RECIPES_DIR, small=True, progress=lines.append)
    out = tmp_path / name
    for step in result.steps:  # every step says when it is done; fine-tunes report their checks as they go
        done = next(i for i, line in enumerate(lines) if line.startswith(f"{step.name}: done in "))
        if step.name in ("prune", "quantize"):
            during = lines[lines.index(f"{step.name}: running"):done]
            assert any("fine-tuning" in line for line in during) and any(": step " in line for line in during), during
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert load_recipe(out / "recipe.yaml") == recipe
    ran = [s.name for s in result.steps]
    assert ran[:2] == ["data", "train"] and ran[2:] == [s.stage for s in recipe.stages]
    artifacts = json.loads((out / "export" / "export.json").read_text())
    assert artifacts and all(a["passed"] and a["fused"] for a in artifacts)
    assert {a["format"] for a in artifacts} == {"tflite", "onnx"}
    report, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert ".tflite" in report and ".onnx" in report and "<table>" in html
    if "benchmark" in ran:
        rows = json.loads((out / "benchmark" / "report.json").read_text())["results"]
        timed = {r["runtime"] for r in rows if r.get("status") == "ok"}
        assert {"tflite", "onnxruntime"} <= timed
        assert "p50 ms" in report and "data:image/png;base64," in html
        rec = json.loads((out / "benchmark" / "report.json").read_text())["recommendation"]  # the answer opens the page
        assert report.splitlines()[2] == "## What to ship" and report.index("## What to ship") < report.index("## data")
        export = next(s for s in recipe.stages if s.stage == "export")
        assert export.max_metric_drop is None or rec["budget"]["max_drop"] == export.max_metric_drop  # one budget per recipe
    if "caption" in ran:  # the captioner's encoder/decoder pairs caption the held-out images as Keras does (fp32)
        captions = json.loads((out / "caption" / "captioning.json").read_text())
        assert captions[0]["decoder"] == "keras" and {r["format"] for r in captions[1:]} == {"tflite", "onnx"}
        assert all(r["agrees_with_keras"] == 1.0 for r in captions if r["quantization"] == "fp32" and "agrees_with_keras" in r)
        assert all(0.0 <= r["bleu"] <= 1.0 and r.get("ms_per_token", 1) > 0 for r in captions)
        assert "ms / token" in report and "captioner.decoder.dynamic.tflite" in report
        first = captions[0]  # a few test images with the human-written caption beside every captioner's
        assert first["references"] and len(first["examples"]) == len(first["references"])
        assert f'Image 1: "{first["references"][0]}" (human-written)' in report
        assert f'| keras | {first["examples"][0]} |' in report
        assert html.count("<figure>") >= len(first["references"])


@pytest.fixture(scope="module")
def npz_recipe(tmp_path_factory, keras3):
    """A tiny model + data file and a recipe that only exports them (fast)."""
    d = tmp_path_factory.mktemp("npz_recipe")
    L = keras3.layers
    keras3.utils.set_random_seed(0)
    model = keras3.Sequential([keras3.Input((6, 3)), L.LSTM(4), L.Dense(2, activation="softmax")])
    model.save(d / "m.keras")
    rng = np.random.default_rng(0)
    np.savez(d / "d.npz", x_train=rng.normal(size=(16, 6, 3)).astype("float32"), y_train=rng.integers(0, 2, 16),
             x_test=rng.normal(size=(8, 6, 3)).astype("float32"), y_test=rng.integers(0, 2, 8))
    recipe = {"name": "tiny", "data": {"kind": "npz", "path": "d.npz"}, "model": {"path": "m.keras"},
              "stages": [{"export": {"formats": ["onnx"]}}, {"report": {}}]}
    (d / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    return d


def test_rerun_skips_unchanged_steps_and_force_reruns(npz_recipe, capsys):
    d = npz_recipe
    out = d / "out"
    code, stdout, err = run_cli(["run", str(d / "tiny.yaml"), "-o", str(out)], capsys)
    assert code == 0, err
    artifact = out / "export" / "m.fp32.onnx"
    first = artifact.stat().st_mtime_ns
    code, stdout, _ = run_cli(["run", str(d / "tiny.yaml"), "-o", str(out)], capsys)
    assert code == 0 and "0 step(s) run" in stdout and artifact.stat().st_mtime_ns == first
    code, stdout, _ = run_cli(["run", str(d / "tiny.yaml"), "-o", str(out), "--force"], capsys)
    assert code == 0 and "4 step(s) run" in stdout and artifact.stat().st_mtime_ns != first


def test_changed_setting_reruns_from_that_step(npz_recipe, capsys):
    d = npz_recipe
    out = d / "out2"
    assert run_cli(["run", str(d / "tiny.yaml"), "-o", str(out)], capsys)[0] == 0
    recipe = yaml.safe_load((d / "tiny.yaml").read_text())
    recipe["stages"][0]["export"]["opset"] = 16
    (d / "tiny2.yaml").write_text(yaml.safe_dump(recipe))
    code, stdout, _ = run_cli(["run", str(d / "tiny2.yaml"), "-o", str(out)], capsys)
    assert code == 0 and "2 step(s) run, 2 unchanged (data, model)" in stdout


def test_dry_run_prints_plan_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "never"
    code, stdout, _ = run_cli(["run", str(RECIPES_DIR / "quickstart.yaml"), "-o", str(out), "--dry-run"], capsys)
    assert code == 0 and "plan for 'quickstart'" in stdout and "prune: sparsity=0.5, method=magnitude" in stdout
    assert not out.exists()


def test_save_recipe_from_flags_round_trips(npz_recipe, capsys, tmp_path):
    d = npz_recipe
    saved = tmp_path / "recipes" / "from_flags.yaml"
    saved.parent.mkdir()
    code, stdout, err = run_cli(["run", "--model", str(d / "m.keras"), "--data", str(d / "d.npz"), "--prune", "0.5", "-o", str(tmp_path / "out"),
                                "--quantize", "fp32,dynamic", "--runtimes", "onnxruntime", "--save-recipe", str(saved)], capsys)
    assert code == 0, err
    assert not (tmp_path / "out").exists() and f"run it with: lstm-deploy run {saved}" in stdout  # saved, not run
    recipe = load_recipe(saved)
    rel = os.path.relpath(d, saved.parent)
    assert (recipe.data.path, recipe.model.path) == (f"{rel}/d.npz", f"{rel}/m.keras")  # relative to the recipe
    check_inputs(recipe, saved.parent)
    assert [s.stage for s in recipe.stages] == ["prune", "export", "benchmark", "report"]
    assert recipe.stages[1].quantize == ("fp32", "dynamic") and recipe.stages[2].runtimes == ("onnxruntime",)
    assert parse_recipe(yaml.safe_load(recipe.to_yaml())) == recipe


@pytest.mark.parametrize(
    "content,message",
    [
        ("data: {kind: npz, path: d.npz}\nmodel: {path: m.keras}\nstages: [{shrink: {}}]\n", "unknown stage 'shrink'"),
        ("data: {kind: npz, path: missing.npz}\nmodel: {path: m.keras}\nstages: [export]\n", "data.path: .*missing.npz does not exist"),
        ("data: {kind: npz, path: d.npz}\nmodel: {path: m.keras}\nstages: [{prune: {sparsity: 2}}]\n", r"stages\[0\].prune.sparsity"),
    ],
)
def test_invalid_recipe_fails_before_work(npz_recipe, capsys, content, message):
    import re

    path = npz_recipe / "bad.yaml"
    path.write_text(content)
    out = npz_recipe / "bad_out"
    code, _, err = run_cli(["run", str(path), "-o", str(out)], capsys)
    assert code == 2 and re.search(message, err) and "Traceback" not in err
    assert not out.exists()


def test_training_strategy_defaults_and_tf_config():
    from lstm_deploy.compress.distribute import describe_strategy, training_strategy
    from lstm_deploy.errors import InputError

    strategy = training_strategy(env={})
    assert strategy.num_replicas_in_sync == 1 and "replica" in describe_strategy(strategy)
    one_worker = json.dumps({"cluster": {"worker": ["localhost:12345"]}, "task": {"type": "worker", "index": 0}})
    assert training_strategy(env={"TF_CONFIG": one_worker}).num_replicas_in_sync == 1
    with pytest.raises(InputError, match="TF_CONFIG is set but is not JSON"):
        training_strategy(env={"TF_CONFIG": "{not json"})


def test_run_flags_and_subcommands_share_one_set_of_defaults():
    """`run --model --data --prune --qat` builds stages at the configs' defaults, which the subcommands' flags show too."""
    import importlib

    from lstm_deploy.bench import BenchConfig
    from lstm_deploy.commands.run import recipe_from_flags
    from lstm_deploy.compress.prune import PruneConfig
    from lstm_deploy.compress.qat.config import QatConfig
    from lstm_deploy.export import ExportConfig

    recipe = parse_recipe(recipe_from_flags("m.keras", "d.npz", 0.5, "magnitude", True, None, None, None, None))
    assert recipe.stages[:4] == [PruneConfig(sparsity=0.5), QatConfig(), ExportConfig(), BenchConfig()]
    for name, config in (("prune", PruneConfig), ("quantize", QatConfig), ("export", ExportConfig), ("benchmark", BenchConfig)):
        for param in importlib.import_module(f"lstm_deploy.commands.{name}").command.params:
            field = config.model_fields.get(param.name)
            if field is None or not isinstance(param.default, (int, float, str)) or param.name in ("quantize", "compare"):
                continue  # unset flags; run's --quantize (export modes); quantize --compare target (= None)
            expected = ",".join(map(str, field.default)) if isinstance(field.default, tuple) else field.default
            assert param.default == expected, (name, param.name, param.default, expected)


def test_include_keras_gives_keras_rows_even_without_a_keras_runtime(npz_recipe, capsys, tmp_path):
    d = npz_recipe
    recipe = {"name": "tiny_bench", "data": {"kind": "npz", "path": "d.npz"}, "model": {"path": "m.keras"},
              "stages": [{"export": {"formats": ["onnx"]}},
                         {"benchmark": {"runtimes": ["onnxruntime"], "include_keras": True, "warmup": 0, "repeats": 2, "min_seconds": 0}}]}
    (d / "tiny_bench.yaml").write_text(yaml.safe_dump(recipe))
    run_recipe(load_recipe(d / "tiny_bench.yaml"), tmp_path / "out", recipe_dir=d)
    rows = json.loads((tmp_path / "out" / "benchmark" / "report.json").read_text())["results"]
    assert {r["runtime"] for r in rows if r["status"] == "ok"} == {"onnxruntime", "keras-function"}


def test_training_reports_progress_about_every_tenth_of_the_epochs():
    from lstm_deploy.load.dataset import validate_arrays
    from lstm_deploy.pipeline.recipe import Architecture, TrainSpec
    from lstm_deploy.pipeline.train import train_baseline

    rng = np.random.default_rng(0)
    ds = validate_arrays({"x_train": rng.normal(size=(24, 6, 3)).astype("float32"), "y_train": rng.integers(0, 2, 24),
                          "x_test": rng.normal(size=(8, 6, 3)).astype("float32"), "y_test": rng.integers(0, 2, 8)})
    lines: list[str] = []
    train_baseline(TrainSpec(architecture=Architecture(units=[4]), epochs=20, patience=50), ds, progress=lines.append)
    assert [line.split(":")[1] for line in lines] == [f" epoch {e}/20" for e in range(2, 21, 2)], lines
    assert "val_loss" in lines[0]
