"""``lstm-deploy benchmark``: latency, throughput, memory and accuracy of every artifact on every runtime.

Example:
    lstm-deploy benchmark model.keras exported/ --data data.npz --batch-sizes 1,32 --threads 1,2 -o bench/
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..bench.config import BenchConfig
from ..errors import InputError
from . import build_config, default

if TYPE_CHECKING:
    from ..bench import BenchReport


def _ints(option: str, text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{option}: expected comma-separated positive integers such as 1,32, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise InputError(f"{option}: expected comma-separated positive integers such as 1,32, got {text!r}")
    return values


@click.command("benchmark")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--data", "data", required=True, type=click.Path(path_type=str), help="The .npz data file; x_test drives timing and metrics.")
@click.option("--runtimes", default="all", show_default=True,
              help="Comma list of runtimes or groups: keras, keras-eager, keras-function, tf-gpu, tflite, litert-gpu, "
                   "onnxruntime, onnxruntime-cuda, onnxruntime-tensorrt, openvino, gpu, all.")
@click.option("--batch-sizes", default="1", show_default=True, help="Comma list of batch sizes to time.")
@click.option("--threads", default="1", show_default=True, help="Comma list of CPU thread counts to pin (e.g. 1,2,4 to profile phone-like settings).")
@click.option("--warmup", default=default(BenchConfig, "warmup"), show_default=True, type=int, help="Untimed calls before timing each configuration.")
@click.option("--repeats", default=default(BenchConfig, "repeats"), show_default=True, type=int, help="Timed calls per configuration, at least (fast ones are timed for 0.5 s; slow ones stop after 2 s once 5 are timed).")
@click.option("--adb", "adb_serial", default=None, metavar="SERIAL", help="Also run LiteRT's benchmark_model on this Android device.")
@click.option("--adb-binary", default=None, type=click.Path(path_type=str), help="Local Android benchmark_model binary to push with --adb.")
@click.option("--max-metric-drop", type=float, default=None,
              help="Budget of the recommendation: accuracy drop vs the source model as a fraction (0.01 = one point; default) "
                   "or RMSE increase in target units (default: 5 % of the source RMSE).")
@click.option("--arch", "arch", multiple=True, type=click.Choice(["arm64"]),
              help="Also run every artifact on emulated ARM64 CPUs (qemu; set up on first use, docs/arm64.md).")
@click.option("--cpu", "cpus", default=None, metavar="A,B", help="--arch arm64: qemu CPU models [default: cortex-a53,cortex-a76,neoverse-n2].")
@click.option("--arch-samples", type=int, default=default(BenchConfig, "arm64_samples"), show_default=True,
              help="--arch arm64: x_test samples run under emulation.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout (for scripts).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=str), help="Output directory for the reports and plots.")
def command(inputs: tuple[str, ...], data: str, runtimes: str, batch_sizes: str, threads: str, warmup: int, repeats: int,
            adb_serial: str | None, adb_binary: str | None, max_metric_drop: float | None, arch: tuple[str, ...], cpus: str | None,
            arch_samples: int, as_json: bool, out_dir: str) -> None:
    """Benchmark Keras models and .tflite/.onnx artifacts (or directories of them) on every runtime.

    Writes report.json, report.csv, report.md, report.html and plots to OUT. Runtimes that
    cannot run here are listed as unavailable with the reason. Host numbers are not phone
    numbers: use --adb SERIAL for a device.
    """
    from ..bench import benchmark
    from ..paths import Outputs, check_output_dir
    from ..report.figures import PLOT_FILES
    from ..report.write import write_report

    given = {"data": data, **{f"INPUT {n}": i for n, i in enumerate(inputs, 1)}}
    check_output_dir(out_dir, "-o", inputs=given)  # before the run, not after it
    outputs = Outputs(given).folder(out_dir, ("report.json", "report.csv", "report.md", "report.html", *PLOT_FILES), "-o")
    config = build_config(
        BenchConfig, runtimes=tuple(r.strip() for r in runtimes.split(",") if r.strip()), batch_sizes=_ints("--batch-sizes", batch_sizes),
        threads=_ints("--threads", threads), warmup=warmup, repeats=repeats, adb_serial=adb_serial, adb_binary=adb_binary,
        max_metric_drop=max_metric_drop,
        arch=arch, arm64_cpus=tuple(c.strip() for c in cpus.split(",") if c.strip()) if cpus else None, arm64_samples=arch_samples,
    )
    _check_artifacts(inputs)
    with outputs:  # your own report.md (or any file named like an output) in OUT is refused here, before the run
        report = benchmark(list(inputs), data, config, progress=True)
        paths = write_report(report, out_dir)
    if as_json:
        click.echo(report.to_json())
        return
    _print_summary(report, paths)


def _check_artifacts(inputs: tuple[str, ...]) -> None:
    """Every artifact with a manifest loads in the runtime before any timing: an artifact or manifest the runtime
    refuses (a hash that does not match, a malformed manifest) is bad input, one line and exit 2 -- not an error row."""
    from ..bench.artifacts import discover
    from ..runtime import Model, RuntimeError_

    for art in discover(inputs):
        if art.format in ("tflite", "onnx") and art.manifest is not None and not art.skip_reason:
            try:
                Model.load(art.path, require_manifest=False, preprocess=False)
            except RuntimeError_ as exc:
                raise InputError(f"INPUT {art.path}: the runtime refuses it ({exc}); re-export it or fix its manifest") from None


def _print_summary(report: "BenchReport", paths: dict[str, Path]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..report.bench import ranked

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 150))
    from ..metrics import format_metric, primary_metric

    metric = primary_metric(report.task or "classification")
    table = Table(title="Benchmark (ranked by p50 latency; * = no other row better beyond noise)")
    for col in ("", "artifact", "runtime", "batch", "threads", "p50 ms", "p99 ms", "seq/s", "peak MiB", metric, "agreement"):
        table.add_column(col, justify="left" if col in ("artifact", "runtime") else "right")
    for r in ranked(report.results):
        agree = r.get("agreement")
        table.add_row("*" if r.get("pareto") else "", r["artifact"], r["runtime"], str(r["batch_size"]), str(r["threads"]),
                      f"{r['p50_ms']:.3g}", f"{r['p99_ms']:.3g}", f"{r['throughput_seq_s']:.0f}", f"{r['peak_rss_mb']:.0f}",
                      format_metric(metric, r.get(metric)), format_metric("agreement", agree))
    console.print(table)
    skipped = [r for r in report.results if r.get("status") != "ok"]
    for rt, reason in dict.fromkeys((r["runtime"], f"{r['status']}: {r.get('reason')}") for r in skipped):
        console.print(f"[yellow]{rt}[/]: {escape(reason)}", highlight=False)
    if report.arm64:
        _print_arm64(console, report.arm64)
    console.print(f"Reports: {paths['md']}, {paths['html']}, {paths['json']}, {paths['csv']}", highlight=False)
    from ..report.recommend import render_text

    for line in render_text(report.recommendation):  # the answer comes last, where the eye lands
        console.print(escape(line), highlight=False, soft_wrap=True)


def _print_arm64(console: object, section: dict) -> None:
    """The ARM64 rows in their own table: emulated seconds never sit beside host milliseconds."""
    from rich.table import Table

    from ..metrics import format_metric

    table = Table(title="ARM64, emulated (qemu): outputs vs the same artifact on x86; seconds = emulation cost, not phone latency")
    for col in ("cpu", "artifact", "accuracy / RMSE", "agreement", "max diff vs x86", "bit-exact", "emulated s"):
        table.add_column(col, justify="left" if col in ("cpu", "artifact") else "right")
    for r in section["rows"]:
        if r.get("status") != "ok":
            table.add_row(r["cpu"], r["artifact"], f"{r['status']}: {r.get('reason')}", "", "", "", "")
            continue
        name = "accuracy" if r.get("accuracy") is not None else "rmse"
        table.add_row(r["cpu"], r["artifact"], format_metric(name, r.get(name)), format_metric("agreement", r.get("agreement")),
                      f"{r['x86_max_abs_diff']:.3g}", "yes" if r["x86_bit_exact"] else "no", f"{r['emulated_s']:.1f}")
    console.print(table)  # type: ignore[attr-defined]
