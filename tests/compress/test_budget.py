"""Fine-tuning budgets in steps, the checked curve, best-weights restore, the recovery warning, distillation targets."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy import _tf
from lstm_deploy.compress import fit
from lstm_deploy.compress.budget import MAX_STEPS, MIN_STEPS, plan_budget
from lstm_deploy.compress.prune import PruneConfig
from lstm_deploy.errors import InputError
from lstm_deploy.load.dataset import validate_arrays


@pytest.mark.parametrize("n,steps,source", [(270, MIN_STEPS, "floor"), (3200, 1000, "default"), (50_000, MAX_STEPS, "capped")])
def test_default_budget_has_a_floor_and_a_cap(n, steps, source):
    b = plan_budget(n, 32)
    assert b.steps == steps and source in b.source or (source == "default" and "floor" not in b.source and "capped" not in b.source)
    assert b.checks == 20 and b.steps % b.eval_every == 0


def test_explicit_budgets_are_exact_and_validated():
    assert plan_budget(270, 32, steps=7).steps == 7 and plan_budget(270, 32, steps=7).eval_every == 1
    assert plan_budget(270, 32, epochs=2).steps == 18
    assert plan_budget(270, 32, steps=0).steps == 0
    with pytest.raises(InputError, match="--steps"):
        plan_budget(270, 32, steps=-1)
    with pytest.raises(InputError, match="--steps: expected an integer >= 1 for --method magnitude"):
        PruneConfig(sparsity=0.5, steps=0)
    with pytest.raises(InputError, match="--min-steps"):
        PruneConfig(min_steps=900, max_steps=800)
    assert PruneConfig(method="units", steps=0).finetunes is False and PruneConfig().finetunes


def _toy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5, 2)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int64")
    ds = validate_arrays({"x_train": x[:48], "y_train": y[:48], "x_test": x[48:], "y_test": y[48:]})
    k = _tf.tf_keras()
    k.utils.set_random_seed(0)
    model = k.Sequential([k.Input((5, 2)), k.layers.LSTM(4), k.layers.Dense(2, activation="softmax")])
    fit.compile_for(model, ds, 1e-2)
    return ds, model


def test_finetune_restores_the_best_check_and_reports_the_curve():
    ds, model = _toy()
    data = fit.split(ds, 0.25)
    metrics_by_check = iter([0.5, 0.6, 0.9, 0.7, 0.7, 0.7, 0.7])  # the third check (step 2) is best
    snapshots = {}

    def score(m):
        value = next(metrics_by_check)
        snapshots[value] = [w.copy() for w in m.get_weights()]
        return value, 1.0

    y_fit = fit.targets(ds, data.y_train, (2,))
    run = fit.finetune(model, data, y_fit, plan_budget(len(data.x_train), 12, steps=6), score=score, task="classification",
                       batch_size=12, patience=3, reference=0.8)
    assert [p["step"] for p in run.curve] == [0, 1, 2, 3, 4, 5]  # step 0 = untouched; stopped after 3 checks without a new best
    assert run.stopped_early and run.best_step == 2 and run.best_metric == 0.9
    for a, b in zip(model.get_weights(), snapshots[0.9]):
        np.testing.assert_array_equal(a, b)
    assert run.recovered and run.warning is None


def test_budget_that_runs_out_before_recovery_warns():
    ds, model = _toy()
    data = fit.split(ds, 0.25)
    run = fit.finetune(model, data, fit.targets(ds, data.y_train, (2,)), plan_budget(36, 12, steps=3),
                       score=fit.val_scorer(ds, data, fit.predict(model, data.x_train[:4])), task="classification",
                       batch_size=12, reference=1.01)  # a reference no model reaches
    assert run.steps_run == 3 and not run.stopped_early and run.recovered is False
    assert "ran out before validation accuracy recovered" in run.warning and "--steps 6" in run.warning


def test_distillation_targets_blend_labels_and_teacher():
    ds, _ = _toy()
    teacher = np.tile([[0.2, 0.8]], (4, 1)).astype("float32")
    y = np.array([0, 1, 0, 1])
    t, loss = fit.fit_targets(ds, y, teacher, teacher, distill=0.5)
    np.testing.assert_allclose(t, [[0.6, 0.4], [0.1, 0.9], [0.6, 0.4], [0.1, 0.9]], atol=1e-6)
    assert type(loss).__name__ == "CategoricalCrossentropy"
    plain, loss = fit.fit_targets(ds, y, teacher)
    assert plain.tolist() == y.tolist() and type(loss).__name__ == "SparseCategoricalCrossentropy"


def test_magnitude_pruning_keeps_a_check_after_the_schedule_ends():
    from lstm_deploy.compress.prune import magnitude_prune

    ds, model = _toy()
    res = magnitude_prune(model, ds, PruneConfig(sparsity=0.8, steps=40, batch_size=8))
    assert res.run.best_step >= res.schedule.end_step and res.schedule.end_step <= 0.45 * 40
    assert all("sparsity" in p for p in res.run.curve) and res.run.curve[-1]["sparsity"] == pytest.approx(0.8, abs=0.02)
