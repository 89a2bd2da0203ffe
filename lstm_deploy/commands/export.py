"""``lstm-deploy export MODEL``: TFLite / ONNX artifacts with fused LSTMs, parity and manifests."""

from __future__ import annotations

import glob
from pathlib import Path

import click

from ..export.config import ExportConfig
from . import build_config, default

C = ExportConfig


def _split_modes(values: tuple[str, ...]) -> tuple[str, ...] | None:
    modes: list[str] = []
    for value in values:
        for mode in value.split(","):
            mode = mode.strip().lower()
            if mode and mode not in modes:
                modes.append(mode)
    return tuple(modes) or None


@click.command("export")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=True, path_type=str))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str), help="Output folder.")
@click.option("--tflite", is_flag=True, help="Write .tflite (LiteRT) artifacts (default: both formats).")
@click.option("--onnx", "onnx_", is_flag=True, help="Write .onnx artifacts (default: both formats).")
@click.option("--quantize", "quantize", multiple=True, metavar="MODE",
              help="fp32 | float16 | dynamic | int8 (tflite); fp32 | dynamic (onnx). Repeat or comma-separate for several.")
@click.option("--data", type=click.Path(dir_okay=False, path_type=str), default=None,
              help=".npz with x_test/y_test (parity, metric) and x_train (int8 calibration). Without it: seeded random inputs.")
@click.option("--batch-size", type=int, default=default(C, "batch_size"), show_default=True, help="Fixed batch of TFLite artifacts (ONNX batch is dynamic).")
@click.option("--opset", type=int, default=default(C, "opset"), show_default=True, help="ONNX opset.")
@click.option("--calibration-samples", type=int, default=default(C, "calibration_samples"), show_default=True,
              help="x_train samples used to calibrate int8.")
@click.option("--max-metric-drop", type=float, default=None,
              help="Budget for quantized artifacts, in the metric's unit: accuracy drop (0.01 = one point; default) or RMSE "
                   "increase in target units (default: 5 % of the model's RMSE).")
@click.option("--fp32-tolerance", type=float, default=default(C, "fp32_tolerance"), show_default=True,
              help="Budget for fp32 artifacts: relative L2 error ||artifact - model|| / ||model|| on the parity inputs.")
@click.option("--require-fused", is_flag=True, help="Fail instead of warning when an LSTM does not become a fused kernel.")
@click.option("--streaming", is_flag=True, help="Export single-step models with explicit h/c state inputs/outputs.")
@click.option("--lengths-input", is_flag=True,
              help="Masked models: add an int32 'lengths' input (post-padded sequences) instead of taking exactly the model's input.")
@click.option("--name", default=None, help="Artifact base name (default: the model file's stem).")
@click.option("--labels", default=None, metavar="A,B,...",
              help="Class names, in output order, for the manifest (default: a 'label_names' or 'labels' string array in --data).")
@click.option("--verify-arch", "verify_arch", multiple=True, type=click.Choice(["arm64"]),
              help="Also run the parity check on emulated ARM64 CPUs (qemu; set up on first use, docs/arm64.md); a failing artifact is removed.")
@click.option("--verify-cpu", "verify_cpus", default=None, metavar="A,B",
              help="--verify-arch arm64: qemu CPU models [default: cortex-a53,cortex-a76,neoverse-n2].")
def command(model_path: str, out_dir: str, tflite: bool, onnx_: bool, quantize: tuple[str, ...], data: str | None, batch_size: int,
            opset: int, calibration_samples: int, max_metric_drop: float | None, fp32_tolerance: float, require_fused: bool, streaming: bool,
            lengths_input: bool, name: str | None, labels: str | None, verify_arch: tuple[str, ...], verify_cpus: str | None) -> None:
    """Export MODEL to TFLite and/or ONNX; every artifact is checked against MODEL.

    \b
    Writes OUT/<name>.<mode>[.stream].<tflite|onnx> plus <artifact>.json (manifest).
    fp32 artifacts must match the model (--fp32-tolerance, relative L2 error); quantized ones
    must stay within --max-metric-drop. A failing artifact is not written and the exit code is 1.
    \b
    Example:
      lstm-deploy export model.keras --data data.npz --quantize fp32,dynamic,int8 -o out/
    """
    import warnings

    from rich.console import Console
    from rich.table import Table

    from ..errors import ParityError
    from ..export import ExportWarning, export_model
    from ..metrics import format_metric

    from ..paths import Outputs, check_name, check_output_dir

    check_output_dir(out_dir, "-o", inputs={"model": model_path, "data": data})  # before any conversion
    if name is not None:
        check_name(name, "--name")  # artifacts stay inside -o
    stem = glob.escape(name or Path(model_path.rstrip("/\\")).stem)  # the artifacts' base name (export_model's default: the file's stem)
    outputs = Outputs({"model": model_path, "data": data}).folder(
        out_dir, tuple(f"{stem}.*.{ext}" for ext in ("tflite", "onnx", "tflite.json", "onnx.json")), "-o")
    formats = tuple(f for f, on in (("tflite", tflite), ("onnx", onnx_)) if on) or None
    config = build_config(ExportConfig, formats=formats, quantize=_split_modes(quantize), batch_size=batch_size, opset=opset,
                          calibration_samples=calibration_samples, max_metric_drop=max_metric_drop, fp32_tolerance=fp32_tolerance,
                          require_fused=require_fused, streaming=streaming,
                          lengths_input=lengths_input or None, verify_arch=verify_arch or None,
                          verify_cpus=tuple(c.strip() for c in verify_cpus.split(",") if c.strip()) if verify_cpus else None)
    console = Console(stderr=True)
    with outputs, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportWarning)
        try:
            quiet = bool((click.get_current_context().obj or {}).get("quiet"))  # lstm-deploy --quiet
            class_names = [v.strip() for v in labels.split(",") if v.strip()] if labels else None
            results = export_model(model_path, out_dir, config, data=data, name=name, labels=class_names,
                                   progress=None if quiet else lambda msg: console.print(f"[dim]{msg}[/dim]"))
        except ParityError:
            _print_warnings(console, caught, ExportWarning)
            raise
    _print_warnings(console, caught, ExportWarning)
    if config.skipped():
        console.print(f"[dim]not available for that format, skipped: {', '.join(config.skipped())}[/dim]")
    table = Table(title=f"lstm-deploy export -> {out_dir}")
    for col in ("artifact", "format", "mode", "size", "fused LSTM", "rel. error", "agreement", "metric", "parity"):
        table.add_column(col, justify="right" if col in ("size", "rel. error", "agreement") else "left", no_wrap=True)
    for r in results:
        p = r.parity
        metric = f"{p.metric} {format_metric(p.metric, p.metric_source)} -> {format_metric(p.metric, p.metric_artifact)}" if p.metric else "-"
        table.add_row(
            r.artifact.name if r.artifact else "(not written)", r.format, r.quantization, f"{r.size_bytes / 1024:.1f} KB",
            "yes" if r.fused else ("step" if r.streaming else "NO"), f"{p.rel_error:.2e}",
            "-" if p.argmax_agreement is None else f"{p.argmax_agreement:.3f}", metric,
            "FAIL" if not p.passed else ("= fp32" if r.note else "ok"),
        )
    Console(width=max(Console().width, 140)).print(table)
    for r in results:
        if r.note:  # a quantized mode that quantized nothing: said once, exit 0
            console.print(f"note: {r.note}", soft_wrap=True, highlight=False)
    _print_arch(results)
    import shlex

    click.echo("next: " + shlex.join(["lstm-deploy", "benchmark", model_path, out_dir, "--data", data or "DATA.npz", "-o", str(Path(out_dir).parent / "bench")])
               + "  (times every artifact here and says which one to ship)")


def _print_arch(results: list) -> None:
    """--verify-arch: per artifact and emulated CPU model, the ARM64 outputs against the model and against x86."""
    rows = [(r, cpu, e) for r in results for cpu, e in ((r.arch or {}).get("arm64") or {}).get("cpus", {}).items()]
    if not rows:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="ARM64 check (emulated by qemu; the same parity budget as x86)")
    for col in ("artifact", "cpu", "rel. error", "agreement", "max diff vs x86", "bit-exact", "check"):
        table.add_column(col, justify="left" if col in ("artifact", "cpu", "check") else "right", no_wrap=True)
    for r, cpu, e in rows:
        agree = e.get("argmax_agreement")
        table.add_row(r.artifact.name if r.artifact else "(removed)", cpu, f"{e.get('rel_error', float('nan')):.2e}",
                      "-" if agree is None else f"{agree:.3f}", f"{e.get('x86_max_abs_diff') or 0:.3g}", "yes" if e.get("x86_bit_exact") else "no",
                      "ok" if e.get("passed") else "FAIL")
    Console(width=max(Console().width, 140)).print(table)


def _print_warnings(console: object, caught: list, category: type) -> None:
    seen = set()
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, category) and text not in seen:
            seen.add(text)
            console.print(f"[yellow]warning:[/yellow] {text}")  # type: ignore[attr-defined]
