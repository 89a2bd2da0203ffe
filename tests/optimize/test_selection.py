"""The one selection rule: compressions are judged on rows the model never trained on (fast tier).

Rows carry their own index in every feature (x_train row i holds 1000 + i, x_test row j holds
2000 + j), so what a fine-tune validated on can be read back from the arrays it received.
Also: identical configurations never run twice, and a finalist that fails the budget on the
confirmation rows makes the next candidate be confirmed (real exports, real benchmark).
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from lstm_deploy.compress import holdout
from lstm_deploy.load.dataset import Dataset
from lstm_deploy.optimize import OptimizeConfig
from tests import zoo

N_TRAIN, N_TEST = 40, 30


def _marked(val: bool = False) -> Dataset:
    rng = np.random.default_rng(0)
    x_train = np.repeat((1000.0 + np.arange(N_TRAIN))[:, None, None], zoo.T * zoo.F, 1).reshape(N_TRAIN, zoo.T, zoo.F).astype(np.float32)
    x_test = np.repeat((2000.0 + np.arange(N_TEST))[:, None, None], zoo.T * zoo.F, 1).reshape(N_TEST, zoo.T, zoo.F).astype(np.float32)
    y_test = np.array([0] * 6 + [1] * 12 + [2] * 12)
    extra = {"x_val": x_test[:5] + 1000.0, "y_val": y_test[:5]} if val else {}
    return Dataset(x_train=x_train / 1.0, y_train=rng.integers(0, 3, N_TRAIN), x_test=x_test, y_test=y_test, **extra)


def _ids(x: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(x)[:, 0, 0]]


def test_without_x_val_x_test_is_split_in_two_disjoint_stratified_halves_and_no_training_row_selects():
    ds = _marked()
    h = holdout.choose(ds, seed=3)
    assert h.scheme == "x_test halves"
    assert set(h.select_rows).isdisjoint(h.confirm_rows) and sorted(h.select_rows + h.confirm_rows) == list(range(N_TEST))
    assert _ids(h.x_select) == [2000 + i for i in h.select_rows] and _ids(h.x_confirm) == [2000 + i for i in h.confirm_rows]
    assert all(i >= 2000 for i in _ids(h.x_select))  # never a training row (those are 1000..1039)
    assert _ids(h.fit_arrays()[0]) == list(range(1000, 1000 + N_TRAIN))  # fine-tuning keeps every training row
    for c, n in ((0, 6), (1, 12), (2, 12)):  # stratified: each class split evenly
        assert int((ds.y_test[list(h.select_rows)] == c).sum()) == n // 2
    assert holdout.choose(ds, seed=3).select_rows == h.select_rows and holdout.choose(ds, seed=4).select_rows != h.select_rows  # seeded
    view = h.search_dataset(ds)
    assert _ids(view.x_test) == _ids(view.x_val) == _ids(h.x_select)
    d = h.describe()
    assert d["selection"]["indices"] == list(h.select_rows) and d["confirmation"]["indices"] == list(h.confirm_rows)


def test_given_x_val_selects_and_all_of_x_test_confirms():
    h = holdout.choose(_marked(val=True))
    assert h.scheme == "x_val" and h.select_rows is None and h.confirm_rows == tuple(range(N_TEST))
    assert _ids(h.x_select) == [3000 + i for i in range(5)]


def test_a_budget_finer_than_one_row_is_said_in_one_line_with_what_resolves_it():
    h = holdout.choose(_marked())  # 15 + 15 rows: one row is 6.67 points
    note = h.resolution_note("classification", 0.01)
    assert note and "\n" not in note and "one row of the smaller set, 15, is 6.67 points" in note
    assert "x_val of at least 100 rows" in note and "--max-metric-drop to 0.0667" in note
    assert h.resolution_note("classification", 0.1) is None and h.resolution_note("regression", 0.01) is None


@pytest.fixture
def finetune_spy(monkeypatch):
    from lstm_deploy.compress import fit

    seen = []
    real = fit.finetune

    def spy(model, data, *args, **kwargs):
        seen.append(data)
        return real(model, data, *args, **kwargs)

    monkeypatch.setattr(fit, "finetune", spy)
    return seen


def test_prune_selects_and_judges_recovery_on_test_rows_not_training_rows(finetune_spy):
    from lstm_deploy.compress.prune import PruneConfig, prune_model

    ds = _marked()
    res = prune_model(zoo.stacked(zoo.seeded("tf_keras")), ds, PruneConfig(method="units", sparsity=0.5, steps=2, batch_size=8),
                      measure_latency=False)
    (data,) = finetune_spy
    assert _ids(data.x_val) == [2000 + i for i in holdout.choose(ds).select_rows]
    assert _ids(data.x_train) == list(range(1000, 1000 + N_TRAIN))
    assert any("confirmation rows (15 of x_test" in n for n in res.report.notes)


def test_qat_selects_its_check_on_test_rows_not_training_rows(finetune_spy):
    from lstm_deploy.compress.qat import QatConfig, quantize_aware_train

    ds = _marked()
    quantize_aware_train(zoo.stacked(zoo.seeded("tf_keras")), ds, QatConfig(steps=2, batch_size=8, compare=()))
    (data,) = finetune_spy
    assert _ids(data.x_val) == [2000 + i for i in holdout.choose(ds).select_rows]


class _Recorder:
    """An executor that records what it was asked to run and answers without TensorFlow (the loop's own protocol)."""

    slots, where = 1, "test"

    def __init__(self, refuse: tuple[str, ...] = ()):
        self.ran, self._queue, self.refuse = [], [], refuse

    def submit(self, number, candidate, deadline=None):
        self.ran.append(candidate.key())
        self._queue.append((number, candidate))

    def wait(self):
        from lstm_deploy.optimize.trial import TrialOutcome

        number, cand = self._queue.pop(0)
        seconds = 1.0 if cand.plain else 100.0  # what a fine-tune costs, as recorded (no real time passes)
        if cand.quantization in self.refuse:  # what export says for int8 of a masked model
            return [TrialOutcome(number, cand.to_dict(), status="failed", reason="ExportError: int8 quantization of masked models is not supported")]
        return [TrialOutcome(number, cand.to_dict(), val_metric=0.9, val_drop=0.0, latency_ms=1.0 + number, gzip_bytes=100, seconds=seconds)]

    def cancel(self):
        self._queue.clear()

    close = cancel


def test_identical_configurations_never_run_twice():
    """A space of two configurations: the sampler keeps proposing them; each runs once and the search ends."""
    from lstm_deploy.optimize.search import MAX_REPEATS, Budget, finished_outcomes, open_study, run_search
    from lstm_deploy.optimize.space import SearchSpace

    cfg = OptimizeConfig(format="onnx", trials=40)  # the cap ends the loop if repeats were run
    space = SearchSpace(unit_layers=(), magnitude=False, qat=False, artifacts=("onnx/fp32", "onnx/dynamic"), threads=(1,))
    study = open_study(cfg, "dedupe")
    ex = _Recorder()
    state = run_search(study, space, ex, cfg, Budget(None, 1), "classification", lambda _m: None, lambda _o: None)
    assert sorted(ex.ran) == sorted({*ex.ran}) and len(ex.ran) == 2
    assert state.exhausted and state.ran == 2 and state.repeats == MAX_REPEATS
    assert [o["number"] for o in finished_outcomes(study)] == [0, 1]  # repeats leave no outcome
    # with the check broken (every proposal run), ex.ran would hold the same key many times


def test_known_routes_run_first_in_the_search():
    from lstm_deploy.load.summary import inspect_model
    from lstm_deploy.optimize.search import Budget, open_study, run_search
    from lstm_deploy.optimize.space import SearchSpace

    cfg = OptimizeConfig(trials=20)
    space = SearchSpace.for_model(inspect_model(zoo.stacked(zoo.seeded("tf_keras")), seq_len=zoo.T), cfg)
    ex = _Recorder()
    run_search(open_study(cfg, "known"), space, ex, cfg, Budget(None, 1), "classification", lambda _m: None, lambda _o: None)
    known = [space.candidate(p).key() for p in space.known_routes()]
    assert ex.ran[:len(known)] == known and len(ex.ran) == 20 and len(set(ex.ran)) == 20


def test_a_mode_the_original_cannot_be_exported_to_is_not_tried_again_with_compression():
    from lstm_deploy.optimize.search import Budget, open_study, run_search
    from lstm_deploy.optimize.space import SearchSpace

    cfg = OptimizeConfig(format="tflite", objective="size", trials=12)
    space = SearchSpace(unit_layers=("lstm",), magnitude=True, qat=False, artifacts=("tflite/fp32", "tflite/int8"), threads=(1,))
    ex = _Recorder(refuse=("int8",))
    run_search(open_study(cfg, "modes"), space, ex, cfg, Budget(None, 1), "classification", lambda _m: None, lambda _o: None)
    int8 = [k for k in ex.ran if "tflite/int8" in k]
    assert int8 == ["units[all] sparsity=0.00 tflite/int8 t1"], int8  # the plain export only
    assert len(ex.ran) == 12


def test_no_new_fine_tune_starts_that_would_probably_outlast_the_time_budget():
    """60 s left: plain exports (1 s) and the first fine-tune run; a second fine-tune (100 s each so far) does not start.

    The older rule (mean of all trials so far: 34 s) would have started it and overrun the budget.
    """
    import time

    from lstm_deploy.optimize.search import MIN_RESERVE_S, Budget, open_study, run_search
    from lstm_deploy.optimize.space import SearchSpace

    cfg = OptimizeConfig(format="onnx")
    space = SearchSpace(unit_layers=("lstm",), magnitude=False, qat=False, artifacts=("onnx/fp32", "onnx/dynamic"), threads=(1,))
    ex = _Recorder()
    state = run_search(open_study(cfg, "time"), space, ex, cfg, Budget(time.time() + MIN_RESERVE_S + 60.0, 1), "classification",
                       lambda _m: None, lambda _o: None)
    known = [space.candidate(p).key() for p in space.known_routes()]
    assert ex.ran == known[:3] and state.stopped_for_time


def _exported(tmp_path, name, model, ds, mode="dynamic"):
    from lstm_deploy.export import ExportConfig, export_model

    (res,) = export_model(model, tmp_path / name, ExportConfig(formats=("onnx",), quantize=(mode,), max_metric_drop=1.0), data=ds, name="model")
    return res.artifact


def test_a_finalist_failing_the_budget_on_confirmation_rows_makes_the_next_candidate_confirmed(tmp_path):
    """Trial 1 looks smallest on the selection rows but predicts one class; trial 2 is good: round 2 confirms it and it wins."""
    from lstm_deploy.compress import fit
    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.optimize.confirm import confirm

    good, data = zoo.trained_classifier()
    ds = load_data(data)
    bad = zoo.keras_module("tf_keras").models.clone_model(good)
    weights = good.get_weights()
    weights[-1] = np.array([50.0, 0.0, 0.0], np.float32)  # the Dense bias: always class 0
    bad.set_weights(weights)
    rows = holdout.choose(ds, 0)
    out = tmp_path / "out"
    paths = {1: _exported(out / "trials" / "0001", ".", bad, ds), 2: _exported(out / "trials" / "0002", ".", good, ds)}
    base = _exported(out, "baseline", good, ds, "fp32")
    cand = {"units_kept": {"*": 0.5}, "sparsity": 0.0, "format": "onnx", "quantization": "dynamic", "threads": 1}
    outcomes = [{"number": n, "status": "ok", "artifact": paths[n].name, "candidate": cand | {"units_kept": {"*": kept}}, "qat": False,
                 "val_metric": 1.0, "val_drop": 0.0, "latency_ms": 1.0, "gzip_bytes": gz} for n, kept, gz in ((1, 0.25, 10), (2, 0.5, 20))]
    ref = {"confirm_metric": fit.evaluate(good, ds, rows.x_confirm, rows.y_confirm), "test_metric": fit.evaluate(good, ds)}
    run = types.SimpleNamespace(config=OptimizeConfig(format="onnx", objective="size", finalists=1), out=out, dataset=ds, holdout=rows, reference=ref)
    baselines = [{"kind": "baseline", "path": base, "format": "onnx", "quantization": "fp32", "threads": 1, "val_metric": 1.0}]
    res = confirm(run, baselines, outcomes, None, lambda _m: None)
    assert res.rounds == 2
    assert res.best.get("trial") == 2 and res.best["within_budget"] and res.best["gzip_bytes"] < res.baseline["gzip_bytes"]
    record = res.record()
    assert record["candidates_confirmed"] == 2 and [f["trial"] for f in record["failed"]] == [1]
    assert "on the confirmation rows" in record["failed"][0]["why"]
