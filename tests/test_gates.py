"""The parity gate's verdicts and optimize's ratios on outputs worked out by hand (fast tier, no TensorFlow).

Written for `make mutate` (docs/testing.md): each expected figure is computed in the comment beside it.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.export.parity import FP32_TOLERANCE, compare, default_budget


def test_fp32_is_judged_on_relative_error_over_every_row():
    ref = np.ones((40, 2))
    out = ref.copy()
    assert compare(ref, out, quantization="fp32", inputs="x_test").passed
    out[39, 1] = 1.0 + 1e-3  # one value in the last row: rel = 1e-3 / sqrt(80) = 1.1e-4 > 1e-5
    report = compare(ref, out, quantization="fp32", inputs="x_test")
    assert not report.passed and report.rel_error == pytest.approx(1e-3 / np.sqrt(80))
    assert report.max_abs_error == pytest.approx(1e-3) and report.n_samples == 40
    assert report.budget == f"rel_error <= {FP32_TOLERANCE:g}" and report.message.startswith("rel_error 0.000112 > 1e-05")
    assert compare(ref, out, quantization="fp32", inputs="x_test", fp32_tolerance=2e-4).passed


def test_quantized_classification_budget_in_accuracy_points():
    ref = np.tile([[0.2, 0.8]], (50, 1))  # every row class 1; labels all 1: source accuracy 1.0
    labels = np.ones(50, int)
    out = ref.copy()
    out[-1] = [0.9, 0.1]  # the last row flips: accuracy 49/50, drop 0.02 > 0.01
    report = compare(ref, out, quantization="dynamic", inputs="x_test", labels=labels, task="classification")
    assert not report.passed and report.metric == "accuracy" and report.metric_drop == pytest.approx(0.02)
    assert (report.metric_source, report.metric_artifact) == (1.0, pytest.approx(0.98))
    assert report.argmax_agreement == pytest.approx(0.98) and report.budget == "accuracy drop <= 1.00 points"
    assert "(drop +2.00 points > 1.00 points)" in report.message
    assert compare(ref, out, quantization="dynamic", inputs="x_test", labels=labels, task="classification", max_metric_drop=0.02).passed
    assert not compare(ref, out, quantization="dynamic", inputs="x_test", labels=labels, task="classification", max_metric_drop=0.019).passed


def test_quantized_regression_default_budget_is_five_percent_of_the_source_rmse():
    y = np.zeros((4, 1))
    ref = np.full((4, 1), 2.0)  # source RMSE 2.0 -> default budget 0.1
    assert default_budget("regression", 2.0) == pytest.approx(0.1) and default_budget("classification", 2.0) == 0.01
    ok = compare(ref, ref + 0.09, quantization="int8", inputs="x_test", labels=y, task="regression")
    bad = compare(ref, ref + 0.11, quantization="int8", inputs="x_test", labels=y, task="regression")
    assert ok.passed and ok.metric_drop == pytest.approx(0.09) and ok.argmax_agreement is None
    assert not bad.passed and bad.metric_drop == pytest.approx(0.11)
    better = compare(ref, ref - 0.5, quantization="int8", inputs="x_test", labels=y, task="regression")
    assert better.passed and better.metric_drop == pytest.approx(-0.5)


def test_without_labels_or_with_the_wrong_shape():
    ref = np.ones((3, 2))
    report = compare(ref, ref * 1.5, quantization="dynamic", inputs="random(seed=0)")
    assert report.passed and report.budget == "not checked (no labelled data)" and report.metric_drop is None
    assert report.rel_error == pytest.approx(0.5)
    wrong = compare(ref, np.ones((3, 3)), quantization="fp32", inputs="x_test")
    assert not wrong.passed and wrong.budget == "shape" and wrong.rel_error == float("inf")
    assert wrong.message == "artifact output shape (3, 3) differs from the model's (3, 2)"


def test_optimize_ratios_are_baseline_over_winner():
    from lstm_deploy.optimize.report import _ratios

    baseline = {"latency_ms": 2.0, "size_bytes": 9000, "gzip_bytes": 3000}
    best = {"latency_ms": 0.5, "size_bytes": 3000, "gzip_bytes": 2000}
    assert _ratios(baseline, best) == {"speedup": 4.0, "size_ratio": 3.0, "gzip_ratio": 1.5}
    assert _ratios(baseline, {"latency_ms": None, "size_bytes": 7000}) == {"speedup": None, "size_ratio": 1.286, "gzip_ratio": None}


def test_report_fields_and_messages_in_full():
    ref = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    out = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])  # last row flips: agreement 2/3, accuracy 1 -> 2/3
    labels = np.array([0, 1, 0])
    fp32 = compare(ref, out, quantization="fp32", inputs="x_test", labels=labels, task="classification")
    assert (fp32.inputs, fp32.task, fp32.n_samples, fp32.metric) == ("x_test", "classification", 3, "accuracy")
    assert fp32.message == f"rel_error {fp32.rel_error:.3g} > 1e-05, argmax agreement 0.667, accuracy 100.00 % -> 66.67 %"
    quant = compare(ref, out, quantization="dynamic", inputs="x_test", labels=labels, task="classification", max_metric_drop=0.5)
    assert quant.passed and quant.message == "accuracy 100.00 % -> 66.67 % (drop +33.33 points <= 50.00 points)"
    assert quant.budget == "accuracy drop <= 50.00 points"
    exact = compare(ref, out, quantization="fp32", inputs="x_test", fp32_tolerance=fp32.rel_error)  # rel == tolerance passes
    assert exact.passed and exact.message == f"rel_error {fp32.rel_error:.3g} <= {fp32.rel_error:g}"
    shape = compare(ref, out[:, :1], quantization="fp32", inputs="x_test", task="classification")
    assert (shape.inputs, shape.task, shape.n_samples, shape.max_abs_error) == ("x_test", "classification", 3, float("inf"))


def test_agreement_is_reported_where_classes_exist():
    two_cols = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert compare(two_cols, two_cols, quantization="dynamic", inputs="random(seed=0)").argmax_agreement == 1.0  # no task known
    sigmoid = np.array([[0.9], [0.2]])
    assert compare(sigmoid, sigmoid, quantization="dynamic", inputs="x", task="classification").argmax_agreement == 1.0
    assert compare(sigmoid, sigmoid, quantization="dynamic", inputs="x", task="regression").argmax_agreement is None
    seq = np.ones((2, 3, 1))  # a regression sequence: steps are not classes
    assert compare(seq, seq, quantization="dynamic", inputs="x", task="regression").argmax_agreement is None
    no_labels = compare(two_cols, two_cols, quantization="dynamic", inputs="x", task="classification")  # a task but no labels
    assert no_labels.passed and no_labels.metric is None and no_labels.budget == "not checked (no labelled data)"
