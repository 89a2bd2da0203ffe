"""lstm_deploy.metrics and bench.stats against figures worked out by hand (fast tier).

Written to kill the mutants `make mutate` found surviving (docs/testing.md lists them): every
value below is computed in the comment beside it, not by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstm_deploy import metrics as m
from lstm_deploy.bench.stats import percentile, summarize
from lstm_deploy.errors import InputError


# ---------------------------------------------------------------- classes from outputs


def test_one_sigmoid_unit_thresholds_at_one_half_or_zero_for_logits():
    probs = np.array([0.7, 0.2, 0.5, 0.51])  # 1-D outputs; 0.5 itself is class 0 (strictly greater)
    got = m.predicted_classes(probs)
    assert got.tolist() == [1, 0, 0, 1] and got.dtype == np.int64
    assert m.predicted_classes(probs[:, None]).tolist() == [1, 0, 0, 1]
    logits = np.array([[0.3], [-0.2], [0.0], [0.7]])  # threshold 0: 0.7 -> 1 (a threshold of 1 would say 0)
    assert m.predicted_classes(logits, logits=True).tolist() == [1, 0, 0, 1]
    assert m.predicted_classes(logits).tolist() == [0, 0, 0, 1]  # read as probabilities


def test_sequence_outputs_give_a_class_per_step():
    seq_sigmoid = np.array([[[0.9], [0.1], [0.6]], [[0.2], [0.8], [0.4]]])  # (2 samples, 3 steps, 1 unit)
    assert m.predicted_classes(seq_sigmoid).tolist() == [[1, 0, 1], [0, 1, 0]]
    seq_softmax = np.zeros((2, 3, 4))
    for i, row in enumerate([[3, 0, 2], [1, 1, 0]]):
        seq_softmax[i, np.arange(3), row] = 1.0
    assert m.predicted_classes(seq_softmax).tolist() == [[3, 0, 2], [1, 1, 0]]


def test_true_classes_from_labels_columns_and_one_hot():
    probs = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.2, 0.2, 0.6]])  # 3 samples, 3 classes (n == C on purpose)
    for y in (np.array([1, 0, 2]), np.array([[1], [0], [2]]), np.eye(3)[[1, 0, 2]]):
        got = m.true_classes(y, probs)
        assert got.tolist() == [1, 0, 2] and got.dtype == np.int64 and got.shape == (3,)
    sigmoid = np.array([[0.9], [0.2]])
    assert m.true_classes(np.array([[1], [0]]), sigmoid).tolist() == [1, 0]  # a label column, not one-hot
    seq = np.zeros((2, 3, 4))  # one-hot per step, steps (3) != classes (4)
    labels = np.array([[3, 0, 2], [1, 1, 0]])
    one_hot = np.eye(4)[labels]
    assert m.true_classes(one_hot, seq).tolist() == labels.tolist()
    one_step = np.eye(4)[[[2], [1]]]  # (2 samples, 1 step, 4 classes) one-hot
    assert m.true_classes(one_step, np.zeros((2, 1, 4))).tolist() == [[2], [1]]


def test_macro_f1_by_hand():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp 1 fp 1 fn 1 -> 2/4; class 1: tp 2 fp 1 fn 0 -> 4/5; class 2: tp 0 -> 0
    assert m.macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m.macro_f1(y_true[:, None], y_pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3)  # a label column
    assert m.macro_f1(y_true, y_pred[:, None]) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m.macro_f1(np.array([], int), np.array([], int)) == 0.0


def test_task_metrics_and_score_by_hand():
    probs = np.array([[0.1, 0.9], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])  # predicted 1, 0, 1, 0
    y = np.array([1, 1, 1, 0])  # 3 of 4 right; f1: class 0 tp1 fp1 fn0 -> 2/3, class 1 tp2 fp0 fn1 -> 4/5
    assert m.task_metrics(y, probs, "classification") == pytest.approx({"accuracy": 0.75, "macro_f1": (2 / 3 + 0.8) / 2})
    assert m.score(y, probs, "classification") == 0.75
    assert m.score(y[:, None], probs, "classification") == 0.75
    logits = np.array([[-0.2], [0.3], [0.4], [-1.0]])  # logits=True: 0, 1, 1, 0 (as probabilities: all 0)
    assert m.task_metrics(np.array([0, 1, 1, 0]), logits, "classification", logits=True)["accuracy"] == 1.0
    assert m.task_metrics(np.array([0, 1, 1, 0]), logits, "classification")["accuracy"] == 0.5
    assert m.score(np.array([0, 1, 1, 0]), logits, "classification", logits=True) == 1.0
    assert m.score(np.array([0, 1, 1, 0]), logits, "classification") == 0.5  # probabilities by default
    out = np.array([[1.0, 2.0], [3.0, 5.0]])
    target = np.array([[1.0, 0.0], [0.0, 1.0]])  # errors 0, 2, 3, 4: mae 9/4, rmse sqrt(29/4)
    assert m.task_metrics(target, out, "regression") == pytest.approx({"mae": 2.25, "rmse": math.sqrt(29 / 4)})
    assert m.score(target, out, "regression") == pytest.approx(math.sqrt(29 / 4))
    assert m.score(np.array([1.0, 3.0]), np.array([[2.0], [1.0]]), "regression") == pytest.approx(math.sqrt(5 / 2))


def test_direction_of_each_metric():
    assert m.primary_metric("classification") == "accuracy" and m.primary_metric("regression") == "rmse"
    assert m.higher_is_better("classification") is True and m.higher_is_better("regression") is False
    assert m.metric_drop(0.90, 0.85, "classification") == pytest.approx(0.05)  # accuracy fell: positive
    assert m.metric_drop(0.20, 0.25, "regression") == pytest.approx(0.05)  # RMSE rose: positive
    assert m.metric_drop(0.20, 0.15, "regression") == pytest.approx(-0.05)
    assert m.better(0.9, 0.8, "classification") and not m.better(0.8, 0.9, "classification")
    assert m.better(0.1, 0.2, "regression") and not m.better(0.2, 0.1, "regression")
    assert not m.better(0.5, 0.5, "classification") and not m.better(0.5, 0.5, "regression")


# ---------------------------------------------------------------- agreement with a reference


def test_rel_error_and_max_abs_error_by_hand():
    assert m.rel_error(np.array([2.0]), np.array([4.0])) == pytest.approx(0.5)  # |2 - 4| / 4
    assert m.rel_error(np.array([3.0, 4.0]), np.array([0.0, 0.0])) == pytest.approx(5.0 / 1e-12)  # ref norm floored
    assert m.rel_error(np.array([0.2]), np.array([0.1])) == pytest.approx(1.0)  # a small reference is not floored at 1
    assert m.rel_error(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 1.0], [1.0, 3.0]])) == pytest.approx(2.0 / math.sqrt(12.0))
    assert m.max_abs_error(np.array([[1.0, -2.0]]), np.array([[1.5, 1.0]])) == 3.0
    assert m.max_abs_error(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0


def test_agreement_columns():
    out = np.array([[0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
    ref = np.array([[0.7, 0.3], [0.6, 0.4], [0.5, 0.5]])  # argmax 0, 1, 0 vs 0, 0, 0: 2 of 3
    got = m.agreement(out, ref, "classification")
    assert got["agreement"] == pytest.approx(2 / 3) and got["max_abs_diff"] == pytest.approx(0.4)
    assert m.agreement(out, ref, "regression")["agreement"] is None
    assert m.agreement(out, ref[:2], "classification") == {"agreement": None, "max_abs_diff": None, "rel_error": None}


def test_formats():
    assert m.format_metric("accuracy", 0.98765) == "98.77 %" and m.format_metric("macro_f1", 0.5) == "50.00 %"
    assert m.format_metric("agreement", 1.0) == "100.00 %"
    assert m.format_metric("rmse", 0.012345) == "0.01235" and m.format_metric("rmse", None) == "-"
    assert m.format_drop("accuracy", 0.0123) == "+1.23 points" and m.format_drop("macro_f1", -0.5) == "-50.00 points"
    assert m.format_drop("rmse", 0.0123) == "+0.0123"


# ---------------------------------------------------------------- benchmark statistics


def test_percentile_and_summarize_messages_and_edges():
    with pytest.raises(InputError, match=r"^percentile: expected at least one value, got an empty sequence$"):
        percentile([], 50)
    with pytest.raises(InputError, match=r"^percentile: expected q in \[0, 100\], got 100.5$"):
        percentile([1.0], 100.5)
    with pytest.raises(InputError, match=r"^summarize: expected at least one timing, got none$"):
        summarize([])
    with pytest.raises(InputError, match=r"^summarize: timings must be finite and non-negative$"):
        summarize([0.001, -1e-9])
    with pytest.raises(InputError, match=r"^summarize: batch_size must be >= 1, got 0$"):
        summarize([0.1], batch_size=0)
    zero = summarize([0.0, 0.0, 0.001])  # a timer too coarse to see a call: median 0 ms
    assert zero.p50_ms == 0.0 and zero.throughput_seq_s == float("inf") and zero.max_ms == 1.0
    assert summarize([0.002], batch_size=4).throughput_seq_s == pytest.approx(2000.0)  # 4 sequences / 2 ms
    assert summarize([0.001, 0.003]).as_dict() == pytest.approx({"n": 2, "p50_ms": 2.0, "p90_ms": 2.8, "p99_ms": 2.98, "mean_ms": 2.0,
                                                                  "std_ms": 1.0, "min_ms": 1.0, "max_ms": 3.0, "throughput_seq_s": 500.0})
