"""The recommendation: budget, goals, ties decided by paired tests and latency spread (fast tier, no TensorFlow).

The McNemar p-values are checked against scipy's exact binomial test (a test-only reference;
the package computes them with ``math.comb``).
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.bench.registry import ALIASES
from lstm_deploy.report.recommend import (
    GPU_RUNTIMES,
    mark_supported_pareto,
    mcnemar_exact,
    paired_test,
    recommend,
    render_markdown,
    render_text,
)

N = 450


def _row(artifact, p50, acc, size, runtime=None, quant="fp32", spread=0.02, repeats=100, batch=1):
    fmt = artifact.rsplit(".", 1)[-1]
    runtime = runtime or {"tflite": "tflite", "onnx": "onnxruntime", "keras": "keras-function"}[fmt]
    return {"artifact": artifact, "format": fmt, "quantization": None if fmt == "keras" else quant, "runtime": runtime, "status": "ok",
            "batch_size": batch, "threads": 1, "p50_ms": p50, "p90_ms": p50 * (1 + spread), "p99_ms": p50 * (1 + 3 * spread),
            "repeats": repeats, "size_bytes": size, "accuracy": acc, "eval_samples": N}


def _outcomes(n_right, flip_from=None, seed=0):
    """``n_right`` of N samples right; with ``flip_from``, differ from that vector in as few places as possible."""
    if flip_from is None:
        v = np.zeros(N, bool)
        v[np.random.default_rng(seed).choice(N, n_right, replace=False)] = True
        return v
    v = flip_from.copy()
    diff = n_right - int(v.sum())
    idx = np.flatnonzero(~v if diff > 0 else v)[: abs(diff)]
    v[idx] = diff > 0
    return v


@pytest.mark.parametrize("b,c", [(0, 0), (0, 3), (3, 0), (2, 12), (10, 10), (1, 40), (25, 60)])
def test_mcnemar_matches_scipy_exact_binomial(b, c):
    stats = pytest.importorskip("scipy.stats")  # third-party reference, not the project's own module
    expected = 1.0 if b + c == 0 else stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)


def test_paired_test_counts_discordant_pairs():
    a = np.array([1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 1, 0, 0], bool)
    assert paired_test(a, b, "classification") == {"n": 5, "a_better": 2, "b_better": 1, "p_value": 1.0}
    # regression: per-sample squared errors, smaller is better
    t = paired_test(np.array([0.1, 0.2, 0.3]), np.array([0.2, 0.2, 0.1]), "regression")
    assert (t["a_better"], t["b_better"]) == (1, 1)


def test_gpu_runtimes_mirror_the_registry():
    assert set(GPU_RUNTIMES) == set(ALIASES["gpu"])


@pytest.fixture
def issue_case():
    """The issue's star: 94.22 % vs 93.56 % on 450 samples (3 samples apart) decided a row; here it must be a tie."""
    ref = _outcomes(424)
    fast = _outcomes(421, flip_from=ref)    # 93.56 %, 0.24 ms, ONNX dynamic
    slow = _outcomes(424, flip_from=ref)    # 94.22 %, 0.90 ms, TFLite dynamic
    int8 = _outcomes(421, flip_from=ref)
    rows = [_row("m.keras", 50.0, ref.mean(), 900_000),
            _row("m.fp32.onnx", 0.54, ref.mean(), 865_000),
            _row("m.dynamic.onnx", 0.24, fast.mean(), 225_000, quant="dynamic"),
            _row("m.dynamic.tflite", 0.90, slow.mean(), 220_000, quant="dynamic"),
            _row("m.int8.tflite", 6.7, int8.mean(), 223_000, quant="int8")]
    outcomes = {("m.keras", "keras-function"): ref, ("m.fp32.onnx", "onnxruntime"): ref, ("m.dynamic.onnx", "onnxruntime"): fast,
                ("m.dynamic.tflite", "tflite"): slow, ("m.int8.tflite", "tflite"): int8}
    refs = {r["artifact"]: {"label": "m.keras", "metric": ref.mean(), "outcomes": ref} for r in rows if r["format"] != "keras"}
    return rows, outcomes, refs


def test_recommendation_goals_and_shape(issue_case):
    rows, outcomes, refs = issue_case
    rec = recommend(rows, outcomes, refs, "classification")
    assert rec["budget"] == {"metric": "accuracy", "max_drop": 0.01}
    goals = rec["goals"]
    assert set(goals) == {"fastest_cpu", "smallest", "phone"}
    assert goals["fastest_cpu"]["artifact"] == "m.dynamic.onnx" and not goals["fastest_cpu"]["tie"]
    # 220 000 vs 223 000 vs 225 000 bytes: within 2 %, a tie broken by host latency (the next goal)
    assert goals["smallest"]["artifact"] == "m.dynamic.tflite" and goals["smallest"]["tie"]
    assert "tie" in goals["smallest"]["why"] and "host latency" in goals["smallest"]["why"]
    # phone: dynamic and int8 TFLite are 3 samples apart (McNemar p = 0.25, not a difference); sizes tie too -> simplicity
    assert goals["phone"]["artifact"] == "m.dynamic.tflite" and goals["phone"]["tie"]
    g = goals["fastest_cpu"]
    assert set(g) >= {"artifact", "format", "mode", "metric", "metric_drop", "n_rows", "p50_ms", "p99_ms", "size_bytes", "why", "tie"}
    assert g["n_rows"] == N and g["metric_drop"] == pytest.approx(3 / N) and g["format"] == "onnx" and g["mode"] == "dynamic"
    assert "McNemar p = 0.25" in g["why"]


def test_star_does_not_follow_three_samples(issue_case):
    rows, outcomes, _ = issue_case
    mark_supported_pareto(rows, outcomes, "classification")
    star = {r["artifact"] for r in rows if r["pareto"]}
    # the slower TFLite row is 3 samples "better": noise, so the faster ONNX row dominates it
    assert star == {"m.dynamic.onnx"}


def test_star_keeps_a_real_accuracy_difference(issue_case):
    rows, outcomes, _ = issue_case
    better = _outcomes(440, flip_from=outcomes[("m.dynamic.onnx", "onnxruntime")])  # 19 samples more right: p < 0.05
    outcomes = {**outcomes, ("m.dynamic.tflite", "tflite"): better}
    mark_supported_pareto(rows, outcomes, "classification")
    assert {r["artifact"] for r in rows if r["pareto"]} == {"m.dynamic.onnx", "m.dynamic.tflite"}


def test_latency_within_spread_is_a_tie_broken_by_size():
    ref = _outcomes(400)
    rows = [_row("a.fp32.tflite", 1.00, ref.mean(), 50_000, spread=0.5, repeats=20),
            _row("b.dynamic.onnx", 0.98, ref.mean(), 20_000, quant="dynamic", spread=0.5, repeats=20)]
    outcomes = {("a.fp32.tflite", "tflite"): ref, ("b.dynamic.onnx", "onnxruntime"): ref}
    refs = {r["artifact"]: {"label": "m", "metric": ref.mean(), "outcomes": ref} for r in rows}
    fastest = recommend(rows, outcomes, refs, "classification")["goals"]["fastest_cpu"]
    assert fastest["artifact"] == "b.dynamic.onnx" and fastest["tie"] and "decided by size" in fastest["why"]
    rows[1]["p50_ms"] = rows[1]["p90_ms"] = rows[1]["p99_ms"] = 2.0  # clearly slower now: no tie
    rows[0]["p90_ms"] = rows[0]["p99_ms"] = 1.0
    fastest = recommend(rows, outcomes, refs, "classification")["goals"]["fastest_cpu"]
    assert fastest["artifact"] == "a.fp32.tflite" and not fastest["tie"]


def test_nothing_passes_says_so_and_what_to_try(issue_case):
    rows, outcomes, refs = issue_case
    rec = recommend(rows, outcomes, refs, "classification", max_drop=0.0)
    assert rec["goals"]["fastest_cpu"]["artifact"] == "m.fp32.onnx"  # the fp32 twin is exact: drop 0 passes a zero budget
    bad = {k: {**v, "metric": 1.0} for k, v in refs.items()}  # a source model nothing reaches
    rec = recommend(rows, outcomes, bad, "classification")
    assert all(g is None for g in rec["goals"].values())
    assert rec["note"].startswith("Nothing passed the budget") and "lstm-deploy quantize" in rec["note"]
    assert "Nothing passed" in render_text(rec)[-1]


def test_phone_falls_back_to_float_tflite_and_gpu_rows_are_not_host():
    ref = _outcomes(400)
    worse = _outcomes(360, flip_from=ref)  # 40 samples worse: over a 1-point budget
    rows = [_row("m.fp32.tflite", 1.0, ref.mean(), 50_000), _row("m.int8.tflite", 2.0, worse.mean(), 15_000, quant="int8"),
            _row("m.fp32.onnx", 0.1, ref.mean(), 50_000, runtime="onnxruntime-cuda")]
    outcomes = {("m.fp32.tflite", "tflite"): ref, ("m.int8.tflite", "tflite"): worse, ("m.fp32.onnx", "onnxruntime-cuda"): ref}
    refs = {r["artifact"]: {"label": "m", "metric": ref.mean(), "outcomes": ref} for r in rows}
    rec = recommend(rows, outcomes, refs, "classification")
    assert rec["goals"]["phone"]["artifact"] == "m.fp32.tflite" and "No int8 or dynamic TFLite passed" in rec["goals"]["phone"]["why"]
    assert rec["goals"]["fastest_cpu"]["artifact"] == "m.fp32.tflite"  # the GPU row is not this host's CPU
    assert "m.int8.tflite" in rec["note"]


def test_no_source_model_means_no_recommendation():
    rows = [_row("m.fp32.tflite", 1.0, 0.9, 50_000)]
    rec = recommend(rows, {("m.fp32.tflite", "tflite"): np.ones(N, bool)}, {}, "classification")
    assert all(g is None for g in rec["goals"].values()) and "Keras model" in rec["note"]


def test_regression_budget_defaults_to_five_percent_of_source_rmse():
    rng = np.random.default_rng(0)
    ref = rng.random(N)
    rows = [_row("m.fp32.tflite", 1.0, None, 50_000), _row("m.dynamic.tflite", 1.0, None, 20_000, quant="dynamic")]
    for r, rmse in zip(rows, (0.50, 0.56)):
        r["rmse"] = rmse
    outcomes = {("m.fp32.tflite", "tflite"): ref, ("m.dynamic.tflite", "tflite"): ref * 1.2}
    refs = {r["artifact"]: {"label": "m", "metric": 0.5, "outcomes": ref} for r in rows}
    rec = recommend(rows, outcomes, refs, "regression")
    assert rec["budget"] == {"metric": "rmse", "max_drop": pytest.approx(0.025)}
    assert rec["goals"]["smallest"]["artifact"] == "m.fp32.tflite"  # 0.56 is over 0.5 + 0.025


def test_markdown_opens_with_the_answer(issue_case):
    rows, outcomes, refs = issue_case
    md = render_markdown(recommend(rows, outcomes, refs, "classification"))
    assert md[0] == "## What to ship"
    text = "\n".join(md)
    assert "**m.dynamic.onnx**" in text and "(tie)" in text and "93.56 %" in text and "450 rows" in text and "host" in text


def test_stalls_on_the_slow_side_do_not_make_a_tie():
    """A loaded machine: p90 of 14 ms over a p50 of 0.34 ms; the median is still 4x the other one's."""
    ref = _outcomes(400)
    fast = {**_row("a.fp32.onnx", 0.078, ref.mean(), 57_000), "p90_ms": 0.10, "min_ms": 0.07, "repeats": 10}
    slow = {**_row("b.dynamic.tflite", 0.343, ref.mean(), 33_000, quant="dynamic"), "p90_ms": 14.0, "min_ms": 0.30, "repeats": 10}
    outcomes = {("a.fp32.onnx", "onnxruntime"): ref, ("b.dynamic.tflite", "tflite"): ref}
    refs = {r["artifact"]: {"label": "m", "metric": ref.mean(), "outcomes": ref} for r in (fast, slow)}
    fastest = recommend([fast, slow], outcomes, refs, "classification")["goals"]["fastest_cpu"]
    assert fastest["artifact"] == "a.fp32.onnx" and not fastest["tie"]
