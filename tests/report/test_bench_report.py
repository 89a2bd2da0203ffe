"""Report schema, Pareto marking, rendered outputs, machine description, adb errors (no TensorFlow)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from lstm_deploy.bench import SCHEMA, SCHEMA_VERSION, BenchReport, write_report
from lstm_deploy.bench.adb import AdbError, check_device, parse_benchmark_output
from lstm_deploy.bench.machine import describe_machine
from lstm_deploy.report.bench import HOST_NOTE, ROW_FIELDS, mark_pareto
from lstm_deploy.errors import InputError

DOC = Path(__file__).resolve().parents[2] / "docs" / "report_schema.md"


def _row(artifact, runtime, p50, acc, batch=1, status="ok", **extra):
    row = {"artifact": artifact, "format": artifact.rsplit(".", 1)[-1], "quantization": "fp32", "runtime": runtime,
           "status": status, "batch_size": batch if status == "ok" else None, "threads": 1, "size_bytes": 2048,
           "gzip_bytes": 1024}
    if status == "ok":
        row.update(p50_ms=p50, p90_ms=p50 * 1.2, p99_ms=p50 * 1.5, mean_ms=p50, std_ms=0.1, throughput_seq_s=batch * 1000 / p50,
                   load_ms=5.0, peak_rss_mb=80.0, accuracy=acc, macro_f1=acc, agreement=1.0, batching="native")
    row.update(extra)
    return row


@pytest.fixture
def report():
    rows = [
        _row("a.tflite", "tflite", 1.0, 0.90),           # fastest: Pareto
        _row("b.onnx", "onnxruntime", 2.0, 0.95),        # slower but better: Pareto
        _row("c.onnx", "onnxruntime", 3.0, 0.93),        # dominated by b
        _row("m.keras", "keras-eager", 50.0, 0.95),      # same accuracy as b, slower: dominated
        _row("c.onnx", "onnxruntime", 9.0, 0.93, batch=32),  # alone at batch 32: Pareto
        _row("a.tflite", "litert-gpu", None, None, status="unavailable", reason="no GPU | here"),
        _row("b.onnx", "openvino", None, None, status="unavailable", reason="openvino is not installed"),
    ]
    mark_pareto(rows)
    artifacts = [{"name": "a.tflite", "quantization": "fp32", "size_bytes": 2048, "gzip_bytes": 1024}]
    return BenchReport(results=rows, artifacts=artifacts, machine=describe_machine(), task="classification",
                       settings={"warmup": 1, "repeats": 5, "seed": 0},
                       runtimes=[{"name": "tflite", "formats": ["tflite"], "available": True, "reason": "", "description": "x"}])


def test_pareto_marking(report):
    marks = {(r["artifact"], r["runtime"], r["batch_size"]): r["pareto"] for r in report.results}
    assert marks[("a.tflite", "tflite", 1)] is True
    assert marks[("b.onnx", "onnxruntime", 1)] is True
    assert marks[("c.onnx", "onnxruntime", 1)] is False
    assert marks[("m.keras", "keras-eager", 1)] is False
    assert marks[("c.onnx", "onnxruntime", 32)] is True  # batch sizes are compared separately
    assert marks[("a.tflite", "litert-gpu", None)] is None


def test_pareto_regression_prefers_low_rmse():
    rows = [_row("a.tflite", "tflite", 1.0, None, rmse=0.5), _row("b.onnx", "onnxruntime", 2.0, None, rmse=0.4),
            _row("c.onnx", "onnxruntime", 3.0, None, rmse=0.6)]
    mark_pareto(rows)
    assert [r["pareto"] for r in rows] == [True, True, False]


def test_json_schema_roundtrip(report):
    data = json.loads(report.to_json())
    assert data["schema"] == SCHEMA and data["schema_version"] == SCHEMA_VERSION == 1
    assert list(data)[:2] == ["schema", "schema_version"]
    for key in ("results", "artifacts", "runtimes", "machine", "settings", "task", "notes", "created_utc", "tool_version"):
        assert key in data
    assert HOST_NOTE in data["notes"] and "not phone numbers" in HOST_NOTE
    for row in data["results"]:
        assert list(row) == list(ROW_FIELDS)
        assert row["runtime"] and "p50_ms" in row and "p90_ms" in row and "p99_ms" in row
    again = BenchReport.from_dict(data)
    assert again.to_dict() == data
    with pytest.raises(InputError, match="version 1.*found lstm-deploy/benchmark-report version 99"):
        BenchReport.from_dict({**data, "schema_version": 99})


def test_json_has_no_nan(report):
    report.results[0]["std_ms"] = float("nan")
    text = report.to_json()
    assert "NaN" not in text and json.loads(text)["results"][0]["std_ms"] is None


def test_schema_doc_lists_every_field():
    doc = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z0-9_]+)`", doc))
    missing = [f for f in ROW_FIELDS if f not in documented]
    assert not missing, f"document these report fields in {DOC}: {missing}"
    assert f"Current version: **{SCHEMA_VERSION}**" in doc


def test_markdown_ranked_marked_and_unavailable_listed(report):
    md = report.to_markdown(["latency_vs_metric.png"])
    batch1 = md.split("## Batch size 1 ")[1].split("## ")[0]
    order = [line.split("|")[3].strip() for line in batch1.splitlines() if re.match(r"\| \d+ \|", line)]
    assert order == ["a.tflite", "b.onnx", "c.onnx", "m.keras"]
    assert len(re.findall(r"^\| \d+ \| ★ \|", batch1, re.M)) == 2
    assert "## Batch size 32" in md
    assert "not phone numbers" in md
    assert "| litert-gpu | unavailable | no GPU / here | a.tflite |" in md
    assert "openvino is not installed" in md
    assert "![Host p50 latency of one call (log scale) against the test metric" in md and "](latency_vs_metric.png)" in md


def test_write_report_files(report, tmp_path):
    paths = write_report(report, tmp_path / "out")
    names = {p.name for p in paths.values()}
    assert names == {"report.json", "report.csv", "report.md", "report.html", "latency_vs_metric.png",
                     "latency_by_runtime.png", "size_by_artifact.png"}
    for p in paths.values():
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert list(rows[0]) == list(ROW_FIELDS) and len(rows) == len(report.results)
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 3
    assert not re.search(r'src="(?!data:)', html)  # self-contained: nothing to fetch
    assert 'class="pareto"' in html and "not phone numbers" in html
    assert not list((tmp_path / "out").glob(".*"))  # no temporaries left behind


def test_write_report_without_measurements(tmp_path):
    rows = [_row("a.tflite", "litert-gpu", None, None, status="unavailable", reason="no GPU")]
    mark_pareto(rows)
    paths = write_report(BenchReport(results=rows), tmp_path)
    assert "latency_vs_metric" not in paths and paths["md"].exists() and paths["html"].exists()


def test_machine_description():
    m = describe_machine()
    assert m["cpu_model"] and m["cpu_count"] >= 1 and 1 <= m["cpu_usable"] <= m["cpu_count"]
    assert m["versions"]["onnxruntime"] and m["versions"]["ai-edge-litert"] and m["versions"]["numpy"]
    assert "openvino" in m["versions"]  # listed even when not installed (None)


def test_adb_missing_is_a_clear_input_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no adb
    with pytest.raises(InputError, match="adb tool is not on PATH"):
        check_device("emulator-5554")


def test_parse_benchmark_model_output():
    text = ("INFO: Loaded model /data/local/tmp/lstm_deploy/m.tflite\n"
            "Inference timings in us: Init: 5685, First inference: 18525, Warmup (avg): 14462.3, Inference (avg): 14154.3\n"
            "Memory footprint delta from the start of the tool (MB): init=2.3 overall=3.5\n")
    got = parse_benchmark_output(text)
    assert got["avg_ms"] == pytest.approx(14.1543) and got["init_ms"] == pytest.approx(5.685)
    assert got["memory_overall_mb"] == 3.5
    with pytest.raises(AdbError, match="no timings.*Segmentation fault"):
        parse_benchmark_output("Segmentation fault")


def test_markdown_explains_columns_batches_and_noise(report):
    from lstm_deploy.report.bench import legend

    for r in report.results:
        if r["status"] == "ok":
            r["eval_samples"] = 40  # one sample = 2.5 points
    md = report.to_markdown([])
    batch1, batch32 = md.split("## Batch size 1 ")[1].split("## ")[0], md.split("## Batch size 32 ")[1].split("## ")[0]
    assert "latency of one call on one sequence" in batch1 and "agreement: share of test samples" in batch1 and "beyond the latency spread" in batch1
    assert "latency of one call on 32 sequences (per sequence: divide by 32)" in batch32
    assert "at most 5.0%, within two of 40 test samples (one sample = 2.5%)" in batch1  # 0.90 .. 0.95: two samples
    for r in report.results:
        if r["status"] == "ok" and r["artifact"] == "a.tflite":
            r["accuracy"] = 0.875  # three samples below the best: a real difference
    assert not any("within two of" in line for line in legend(report, 1))
    assert any("differences of one or two samples are within noise" in line for line in legend(report, 1))


def test_latency_plot_has_a_panel_per_batch_and_numbers_every_point(report):
    from lstm_deploy.report.plots import _pyplot, latency_vs_metric_figure

    fig = latency_vs_metric_figure(report)
    try:
        assert [ax.get_title() for ax in fig.axes] == ["batch 1", "batch 32"]
        numbers = [sorted(t.get_text() for t in ax.texts) for ax in fig.axes]
        assert numbers == [["1", "2", "3", "4"], ["3"]]  # c.onnx keeps its number 3 at batch 32
        key = "".join(t.get_text() for t in fig.texts)
        assert "1: a.tflite (tflite)" in key and "4: m.keras (keras-eager)" in key
        legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
        assert "Pareto front" in legends[0] and "Pareto front" not in legends[1] and "Pareto-optimal" in legends[1]
    finally:
        _pyplot().close(fig)


def test_latency_plot_axis_shows_the_budget_band_not_a_magnified_spread(report):
    """Rows 0.3 points apart under a 1-point budget: the y axis spans the budget band, so the spread looks as small as it is."""
    from lstm_deploy.report.plots import _pyplot, caption, latency_vs_metric_figure

    for r in report.ok_rows():
        r["accuracy"] = 0.95 if r["artifact"] in ("m.keras", "b.onnx") else 0.947
    report.recommendation = {"budget": {"metric": "accuracy", "max_drop": 0.01}, "goals": {}, "note": ""}
    fig = latency_vs_metric_figure(report)
    try:
        lo, hi = fig.axes[0].get_ylim()
        assert lo < 0.94 and hi >= 0.95 and hi - lo < 0.1  # the band 94-95 % is on the axis, and so is the source model
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert "within budget" in labels and "source model" in labels
    finally:
        _pyplot().close(fig)
    assert "budget" in caption("latency_vs_metric.png")
