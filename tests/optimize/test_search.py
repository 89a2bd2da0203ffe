"""A real search on a tiny trained LSTM: Ctrl-C keeps a partial winner, --storage resumes it on a local Ray cluster, the recipe rebuilds the winner.

The resumed run connects to a real 2-CPU Ray cluster this module starts (two trials at once);
without the optional ``ray`` extra it resumes in-process instead (``make test`` installs Ray).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests import zoo
from tests.helpers import run_cli

ARGS = ("--format", "onnx", "--trials", "3", "--finetune-steps", "12")


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU Ray cluster started (and stopped) by this test process; None without Ray."""
    try:
        import ray
    except ImportError:
        yield None
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """Run 1 (library) is interrupted after its first trial; run 2 (CLI, same storage) finishes the study."""
    from lstm_deploy.load.modelio import save_model
    from lstm_deploy.optimize import OptimizeConfig, optimize_model

    tmp = tmp_path_factory.mktemp("opt")
    model, data = zoo.trained_classifier()
    model_path = save_model(model, tmp / "clf.keras", flavour="tf_keras")
    storage = f"sqlite:///{tmp / 'study.db'}"
    lines: list[str] = []

    def interrupt_after_first_trial(msg: str) -> None:
        lines.append(msg)
        if msg.startswith("trial 1/"):
            raise KeyboardInterrupt

    cfg = OptimizeConfig(format="onnx", trials=3, finetune_steps=12, storage=storage, finalists=2)
    partial = optimize_model(model_path, data, tmp / "out", cfg, progress=interrupt_after_first_trial)
    partial_report = json.loads((tmp / "out" / "report.json").read_text())
    return {"tmp": tmp, "model": model_path, "data": data, "storage": storage, "partial": partial, "partial_report": partial_report,
            "lines": lines}


def test_ctrl_c_keeps_the_best_so_far_marked_partial(searched):
    res, report = searched["partial"], searched["partial_report"]
    assert res.partial and report["partial"] is True
    assert report["search"]["interrupted"] and report["search"]["trials_finished"] == 1
    assert report["search"]["executor"] == "this process"
    assert (res.out_dir / report["best"]["artifact"]).is_file()
    assert any(m.startswith("interrupted") for m in searched["lines"])
    assert "Partial result" in (res.out_dir / "report.md").read_text()
    progress = next(m for m in searched["lines"] if m.startswith("trial 1/3"))
    assert "best so far" in progress and "min left" in progress


def test_resume_on_ray_finishes_the_study_and_writes_the_report(searched, cluster, capsys):
    tmp = searched["tmp"]
    ray_args = ["--ray-address", cluster] if cluster else []
    code, out, err = run_cli(["optimize", searched["model"], "--data", searched["data"], *ARGS, "--storage", searched["storage"],
                              *ray_args, "-o", tmp / "out"], capsys)
    assert code == 0, err
    report = json.loads((tmp / "out" / "report.json").read_text())
    assert report["partial"] is False
    assert report["search"]["trials_finished"] == 3 and report["search"]["trials_run_now"] == 2  # trial 0 was not run again
    assert report["search"]["executor"] == ("Ray cluster (2 CPUs)" if cluster else "this process")
    assert "trial 3/3" in err and "winner:" in out
    assert out.strip().splitlines()[-1].startswith("ship (")  # the answer comes last
    for key in ("baseline", "best"):
        entry = report[key]
        assert (tmp / "out" / entry["artifact"]).is_file()
        assert entry["metric"] is not None and entry["latency_ms"] > 0 and entry["size_bytes"] > 0
    assert report["baseline"]["artifact"] == "baseline/model.fp32.onnx"
    assert [t["number"] for t in report["trials"]] == [0, 1, 2]
    # the first trials are the plain exports, then half the units with the fast ONNX mode
    assert [(t["candidate"]["units_kept"]["*"], t["candidate"]["quantization"]) for t in report["trials"]] == [(1.0, "fp32"), (1.0, "dynamic"), (0.5, "dynamic")]
    assert all(t["status"] == "ok" for t in report["trials"]), [t["reason"] for t in report["trials"]]
    for t in report["trials"]:  # files computed on Ray workers came back to the driver
        assert (tmp / "out" / "trials" / f"{t['number']:04d}" / t["artifact"]).is_file()
    assert set(report["pareto"]) <= {0, 1, 2} and report["pareto"]
    assert "<img" in (tmp / "out" / "report.html").read_text()
    searched["report"] = report


def test_winner_keeps_the_budget_on_confirmation_rows_and_trials_were_judged_on_selection_rows(searched):
    """From report.json's own fields and the artifacts themselves; selection and confirmation rows are x_test's, never training rows."""
    from lstm_deploy import metrics
    from lstm_deploy.compress.holdout import choose
    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.runtime import Model

    out, report = searched["tmp"] / "out", searched["report"]
    ds = load_data(searched["data"])
    rows = report["rows"]
    sel, conf = rows["selection"]["indices"], rows["confirmation"]["indices"]
    assert rows["scheme"] == "x_test halves" and not set(sel) & set(conf) and sorted(sel + conf) == list(range(len(ds.y_test)))
    assert (sel, conf) == (list(choose(ds, 0).select_rows), list(choose(ds, 0).confirm_rows))
    best, base, ref = report["best"], report["baseline"], report["reference"]
    assert best["within_budget"] and best["confirmation_drop"] == pytest.approx(ref["confirm_metric"] - best["confirmation_metric"])
    assert best["confirmation_drop"] <= report["max_metric_drop"] + 1e-9
    assert best["speedup"] == pytest.approx(base["latency_ms"] / best["latency_ms"], rel=1e-3)
    assert best["gzip_ratio"] == pytest.approx(base["gzip_bytes"] / best["gzip_bytes"], rel=1e-3)
    winner = Model.load(out / best["artifact"])  # its manifest travels with it
    assert metrics.score(ds.y_test[conf], winner.predict(ds.x_test[conf]), ds.task) == pytest.approx(best["confirmation_metric"])
    assert metrics.score(ds.y_test, winner.predict(ds.x_test), ds.task) == pytest.approx(best["test_metric"])
    assert report["plain_best"] is not None and report["plain_best"]["role"] == "plain"
    c = report["confirmation"]
    assert c["candidates_confirmed"] == len(report["finalists"]) and c["kept_budget"] + len(c["failed"]) == c["candidates_confirmed"]
    for t in (t for t in report["trials"] if t["status"] == "ok"):
        artifact = Model.load(out / "trials" / f"{t['number']:04d}" / t["artifact"])
        assert metrics.score(ds.y_test[sel], artifact.predict(ds.x_test[sel]), ds.task) == pytest.approx(t["val_metric"])
    goals = report["recommendation"]["goals"]
    assert goals["fastest_cpu"]["n_rows"] == len(conf) and goals["phone"] is None  # ONNX only: no TFLite for a phone
    assert set(goals["fastest_cpu"]) == {"artifact", "format", "mode", "metric", "metric_drop", "n_rows", "p50_ms", "p99_ms", "size_bytes", "why", "tie"}
    assert (out / goals["smallest"]["artifact"]).is_file()


def test_recipe_yaml_rebuilds_the_winner(searched, tmp_path):
    from lstm_deploy import metrics
    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.pipeline.recipe import load_recipe
    from lstm_deploy.pipeline.runner import run_recipe
    from lstm_deploy.runtime import Model

    out, best = searched["tmp"] / "out", searched["report"]["best"]
    recipe = load_recipe(out / "recipe.yaml")
    assert [s.stage for s in recipe.stages][-3:] == ["export", "benchmark", "report"]
    run_recipe(recipe, tmp_path / "run")
    # export names the artifact after its model: prune/model.keras when the winner was pruned, the input model otherwise
    written = json.loads((tmp_path / "run" / "export" / "export.json").read_text())
    assert [(a["format"], a["quantization"]) for a in written] == [(best["format"], best["quantization"])]
    rebuilt = tmp_path / "run" / "export" / Path(written[0]["artifact"]).name
    ds = load_data(searched["data"])
    assert metrics.score(ds.y_test, Model.load(rebuilt).predict(ds.x_test), ds.task) == pytest.approx(best["metric"])
    # Same graph and weights; tf2onnx numbers node and initializer names per process ('R0__95' vs 'R0__363'),
    # so the bytes differ by the names' lengths (the metric above is the exact check).
    assert rebuilt.stat().st_size == pytest.approx(best["size_bytes"], rel=0.05)


def test_cli_errors_are_one_line(searched, capsys, tmp_path):
    model, data = searched["model"], searched["data"]
    code, _, err = run_cli(["optimize", model, "--data", tmp_path / "missing.npz", "-o", tmp_path / "o"], capsys)
    errors = [line for line in err.splitlines() if line.startswith("Error")]
    assert code == 2 and len(errors) == 1 and "missing.npz does not exist" in errors[0] and err.strip().endswith(errors[0])
    code, _, err = run_cli(["optimize", model, "--data", data, "--objective", "speed", "-o", tmp_path / "o"], capsys)
    assert code == 2 and "speed" in err
    code, _, err = run_cli(["optimize", model, "--data", data, "--storage", "study.db", "-o", tmp_path / "o"], capsys)
    assert code == 2 and err.startswith("Error: --storage: expected a database URL")
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(["optimize", model, "--data", data, "-o", tmp_path / "file"], capsys)
    assert code == 2 and "is an existing file" in err
    assert np.load(data)["x_train"].shape[0] > 0  # the input data is untouched and still readable
