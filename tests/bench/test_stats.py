"""Percentile maths and task metrics: one helper, checked against numpy and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstm_deploy.metrics import agreement, macro_f1, predicted_classes, task_metrics
from lstm_deploy.bench.stats import percentile, summarize
from lstm_deploy.errors import InputError


def test_percentile_known_values():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30], 50) == 20.0
    assert percentile([5], 99) == 5.0
    assert percentile([3, 1, 2], 0) == 1.0 and percentile([3, 1, 2], 100) == 3.0
    assert percentile(list(range(1, 101)), 90) == pytest.approx(90.1)  # interpolates between ranks 90 and 91


@pytest.mark.parametrize("seed", range(5))
def test_percentile_matches_numpy_linear(seed):
    rng = np.random.default_rng(seed)
    values = rng.exponential(size=int(rng.integers(1, 300))).tolist()
    for q in (0, 1, 50, 90, 99, 99.9, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


def test_percentile_rejects_bad_input():
    with pytest.raises(InputError, match="empty"):
        percentile([], 50)
    with pytest.raises(InputError, match=r"q in \[0, 100\].*150"):
        percentile([1.0], 150)


def test_summarize_ms_std_and_throughput():
    s = summarize([0.001, 0.002, 0.003, 0.004], batch_size=2)
    assert (s.n, s.min_ms, s.max_ms) == (4, 1.0, 4.0)
    assert s.p50_ms == pytest.approx(2.5) and s.mean_ms == pytest.approx(2.5)
    assert s.std_ms == pytest.approx(math.sqrt(1.25))  # population std of 1,2,3,4
    assert s.p90_ms == pytest.approx(3.7) and s.p99_ms == pytest.approx(3.97)
    assert s.throughput_seq_s == pytest.approx(2 / 0.0025)  # batch / median
    assert s.p50_ms <= s.p90_ms <= s.p99_ms <= s.max_ms


def test_summarize_outlier_moves_p99_not_p50():
    times = [0.001] * 99 + [1.0]
    s = summarize(times)
    assert s.p50_ms == pytest.approx(1.0) and s.p99_ms > 10 and s.mean_ms > 10
    assert s.throughput_seq_s == pytest.approx(1000.0)


@pytest.mark.parametrize("bad, match", [([], "none"), ([-0.1], "non-negative"), ([float("nan")], "finite")])
def test_summarize_rejects(bad, match):
    with pytest.raises(InputError, match=match):
        summarize(bad)
    with pytest.raises(InputError, match="batch_size"):
        summarize([0.1], batch_size=0)


def test_macro_f1_by_hand():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp0 -> 0
    assert macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert macro_f1(y_true, y_true) == 1.0


def test_task_metrics_classification_and_regression():
    out = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    m = task_metrics(np.array([0, 1, 1]), out, "classification")
    assert m["accuracy"] == pytest.approx(2 / 3)
    one_hot = task_metrics(np.eye(2)[[0, 1, 1]], out, "classification")
    assert one_hot == m
    assert predicted_classes(np.array([[0.2], [0.7]])).tolist() == [0, 1]  # single sigmoid unit
    r = task_metrics(np.array([2.0, 3.0]), np.array([[1.0], [3.0]]), "regression")
    assert r["mae"] == pytest.approx(0.5) and r["rmse"] == pytest.approx(math.sqrt(0.5))


def test_agreement():
    ref = np.array([[0.9, 0.1], [0.2, 0.8]])
    a = agreement(ref + 0.01, ref, "classification")
    assert a["agreement"] == 1.0 and a["max_abs_diff"] == pytest.approx(0.01)
    flipped = agreement(ref[:, ::-1], ref, "classification")
    assert flipped["agreement"] == 0.0 and flipped["rel_error"] > 0.5
    assert agreement(np.zeros((2, 3)), ref, "classification")["agreement"] is None  # shapes differ
    assert agreement(ref, ref, "regression")["agreement"] is None


class _Sleeper:
    """A pure-Python runtime stand-in: each call takes ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay, self.calls = delay, 0

    def run(self, x):
        import time

        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return x


def test_time_calls_extends_fast_and_caps_slow_configs():
    from lstm_deploy.bench.worker import _time_calls

    fast = _Sleeper(0.0)
    times = _time_calls(fast, np.zeros(1), warmup=3, repeats=10, min_seconds=0.05, max_seconds=1.0)
    assert len(times) > 10 and sum(times) <= 0.05 + 0.5 and fast.calls == len(times) + 3
    slow = _Sleeper(0.02)
    times = _time_calls(slow, np.zeros(1), warmup=100, repeats=100, min_seconds=0.0, max_seconds=0.1)
    assert 5 <= len(times) <= 8  # stopped by max_seconds once 5 were timed
    assert slow.calls - len(times) <= 7  # warm-up capped by max_seconds too
    exact = _time_calls(_Sleeper(0.0), np.zeros(1), warmup=0, repeats=7, min_seconds=0.0, max_seconds=1.0)
    assert len(exact) == 7
