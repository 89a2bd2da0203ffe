"""The search space follows inspect's verdicts; configs, names, Pareto and stale trials without TensorFlow work."""

from __future__ import annotations

import pytest

from lstm_deploy.errors import InputError
from lstm_deploy.optimize import Candidate, OptimizeConfig, SearchSpace
from lstm_deploy.optimize.report import pareto
from tests import zoo


def _space(builder, **options):
    from lstm_deploy.load.summary import inspect_model

    model = builder(zoo.seeded("tf_keras"))
    return SearchSpace.for_model(inspect_model(model, seq_len=zoo.T), OptimizeConfig(**options))


def test_config_errors_name_the_option():
    with pytest.raises(InputError, match="--objective: Input should be 'latency' or 'size'"):
        OptimizeConfig(objective="speed")
    with pytest.raises(InputError, match="--storage: expected a database URL such as sqlite:///study.db, got 'study.db'"):
        OptimizeConfig(storage="study.db")
    with pytest.raises(InputError, match="--max-metric-drop"):
        OptimizeConfig(max_metric_drop=-0.1)


def test_latency_space_searches_units_and_artifacts_not_sparsity():
    space = _space(zoo.stacked)
    assert len(space.unit_layers) == 2
    assert not space.magnitude and space.qat
    assert set(space.artifacts) == {"onnx/fp32", "onnx/dynamic", "tflite/fp32", "tflite/float16", "tflite/dynamic", "tflite/int8"}
    assert any("not searched for latency" in n for n in space.notes)


def test_size_space_adds_sparsity_and_format_restricts_artifacts():
    space = _space(zoo.stacked, objective="size", format="onnx")
    assert space.magnitude
    assert space.artifacts == ("onnx/fp32", "onnx/dynamic")


def test_space_follows_inspect_verdicts():
    gru = _space(zoo.lstm_options)  # LSTM(relu, no bias) + GRU: only the LSTM loses units
    assert len(gru.unit_layers) == 1
    assert not gru.qat and any("QAT does not apply" in n and "gru" in n for n in gru.notes)  # QAT's registry has no GRU
    assert _space(zoo.embedding_masked).qat  # Embedding(mask_zero) trains for every target, tflite-int8 included


def test_suggest_and_starting_points_are_on_the_grid():
    import optuna

    space = _space(zoo.stacked, per_layer_units=True, threads=(1, 2), min_units_kept=0.33)
    study = optuna.create_study()
    for params in space.starting_points("latency"):
        study.enqueue_trial(params)
    trial = study.ask()
    cand = space.suggest(trial)
    assert set(trial.params) == {"units_kept:" + n for n in space.unit_layers} | {"artifact", "threads"}
    assert cand.plain and (cand.format, cand.quantization) == ("onnx", "fp32")  # the first known route: a plain export
    assert space.candidate(trial.params) == cand
    for _ in range(len(space.known_routes()) - 1):
        trial = study.ask()
        space.suggest(trial)
    trial = study.ask()  # after the known routes (the other starting points repeat them here): the sampler, on the grid
    kept = space.suggest(trial).units_kept
    assert all(0.35 <= v <= 1.0 and abs(v / 0.05 - round(v / 0.05)) < 1e-6 for v in kept.values()), kept
    assert space.low == 0.35  # 0.33 rounded onto the 0.05 grid


def test_known_routes_are_every_plain_export_and_half_and_a_quarter_of_the_units_with_each_fast_mode():
    """Tier 1: the routes a plain ``export`` (and a plain unit prune) gives are always candidates, each once."""
    space = _space(zoo.stacked)
    cands = [space.candidate(p) for p in space.known_routes()]
    plain = [(c.format, c.quantization) for c in cands if c.plain]
    assert plain == [tuple(a.split("/")) for a in space.artifacts]  # every post-training mode of the original, first
    pruned = {(c.units_kept["*"], f"{c.format}/{c.quantization}") for c in cands if not c.plain}
    assert pruned == {(k, a) for k in (0.5, 0.25) for a in ("onnx/dynamic", "tflite/dynamic", "tflite/float16", "tflite/int8")}
    assert len({c.key() for c in cands}) == len(cands)
    starts = [space.candidate(p).key() for p in space.starting_points("latency")]
    assert starts[:len(cands)] == [c.key() for c in cands] and len(set(starts)) == len(starts)
    onnx = _space(zoo.stacked, format="onnx")
    assert {f"{c.format}/{c.quantization}" for c in map(onnx.candidate, onnx.known_routes())} == {"onnx/fp32", "onnx/dynamic"}


def test_candidate_label_says_units_removed_as_prune_sparsity_does():
    assert Candidate({"*": 0.7}, 0.8, "tflite", "int8", 2).label() == "30% of units removed, sparsity 80%, tflite int8, 2 threads"
    assert Candidate({"lstm": 0.5}, 0.0, "onnx", "fp32", 1).label() == "50% of lstm units removed, onnx fp32"
    assert Candidate({"*": 1.0}, 0.0, "onnx", "fp32", 1).label() == "onnx fp32"
    assert Candidate({"*": 1.0}, 0.0, "onnx", "fp32", 1).key() == Candidate({}, 0.0, "onnx", "fp32", 1).key()


def test_space_is_described_as_ranges():
    space = _space(zoo.stacked, objective="size", min_units_kept=0.2)
    d = space.describe()
    assert d["units_removed"] == {"layers": list(space.unit_layers), "per_layer": False, "min": 0.0, "max": 0.8, "step": 0.05}
    assert d["sparsity"] == {"min": 0.0, "max": 0.95, "step": 0.05}


def test_pareto_keeps_non_dominated_trials_for_either_metric_direction():
    rows = [{"number": i, "status": "ok", "val_metric": m, "latency_ms": lat, "gzip_bytes": 1} for i, (m, lat) in enumerate([(0.9, 1.0), (0.95, 2.0), (0.8, 3.0)])]
    rows.append({"number": 3, "status": "failed", "val_metric": None, "latency_ms": None})
    assert pareto(rows, "latency", "classification") == [0, 1]
    assert pareto(rows, "latency", "regression") == [0, 2]  # lower RMSE is better


def test_resume_marks_the_trial_in_flight_failed(tmp_path):
    """A study left with a RUNNING trial (Ctrl-C or crash) loses exactly that trial when reopened."""
    import optuna

    from lstm_deploy.optimize.search import open_study

    cfg = OptimizeConfig(storage=f"sqlite:///{tmp_path / 'study.db'}")
    study = open_study(cfg, "s")
    done = study.ask()
    study.tell(done, 1.0)
    study.ask()  # in flight when the process died
    again = open_study(cfg, "s")
    assert [t.state for t in again.trials] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]


def test_bad_storage_is_one_line_input_error(tmp_path):
    from lstm_deploy.optimize.search import open_study

    with pytest.raises(InputError, match="--storage nosuchdb://x: cannot open the study"):
        open_study(OptimizeConfig(storage="nosuchdb://x"), "s")


def test_study_name_changes_with_shaping_settings():
    import numpy as np

    from lstm_deploy.load.dataset import validate_arrays
    from lstm_deploy.optimize.api import study_name

    ds = validate_arrays({"x_train": np.zeros((4, 2, 1), np.float32), "y_train": np.array([0, 1, 0, 1]),
                          "x_test": np.zeros((2, 2, 1), np.float32), "y_test": np.array([0, 1])})
    a = study_name(OptimizeConfig(), "sha", ds)
    with pytest.raises(InputError, match="--trials / --time-budget: give at least one"):
        OptimizeConfig(trials=None, time_budget=None)
    assert a == study_name(OptimizeConfig(trials=50, time_budget=5), "sha", ds)  # more trials: same study, resumed
    assert a != study_name(OptimizeConfig(objective="size"), "sha", ds)
    assert a != study_name(OptimizeConfig(), "other", ds)
    assert study_name(OptimizeConfig(study_name="mine"), "sha", ds) == "mine"


def test_budget_keeps_time_for_the_final_benchmark():
    from lstm_deploy.optimize.search import Budget

    budget = Budget(end=1000.0, final_artifacts=5)
    assert budget.reserve() == 60.0 and budget.deadline() == 940.0
    budget.bench_s = 20.0  # a loaded machine: benchmarks took 20 s inside the trials
    assert budget.reserve() == 120.0 and budget.deadline() == 880.0
    assert Budget(None, 3).deadline() is None and Budget(None, 3).left() is None


def test_a_trial_starts_no_step_after_the_deadline(tmp_path):
    import time

    import numpy as np

    from lstm_deploy.load.dataset import validate_arrays
    from lstm_deploy.load.modelio import save_model
    from lstm_deploy.optimize.trial import TrialSetup, run_trial, search_view

    rng = np.random.default_rng(0)
    ds = validate_arrays({"x_train": rng.normal(size=(20, zoo.T, zoo.F)).astype(np.float32), "y_train": rng.integers(0, 3, 20),
                          "x_test": rng.normal(size=(6, zoo.T, zoo.F)).astype(np.float32), "y_test": rng.integers(0, 3, 6)})
    model_bytes = save_model(zoo.stacked(zoo.seeded("tf_keras")), tmp_path / "m.keras", flavour="tf_keras").read_bytes()
    cfg = OptimizeConfig()
    setup = TrialSetup(model_bytes, search_view(ds, cfg), cfg, reference=0.5, qat=True)
    out = run_trial(setup, 7, Candidate({"*": 0.5}, 0.0, "onnx", "dynamic", 1), deadline=time.time() - 1)
    assert out.status == "failed" and out.reason == "TimeBudgetReached: --time-budget reached before 'prune units'"
    assert out.files == {} and out.number == 7
