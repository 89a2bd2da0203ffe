"""``lstm-deploy quantize``: quantization-aware fine-tuning that still exports fused LSTMs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..compress.qat.config import TARGETS, QatConfig
from . import build_config, default, load_for_fine_tune, model_outputs, quiet_of

C = QatConfig


@click.command(name="quantize")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help=".npz with x_train, y_train, x_test, y_test [, x_val, y_val].")
@click.option("--steps", type=int, default=None,
              help="Fine-tune budget in optimizer steps, exactly (0 = snap weights only). Default: 10 epochs, at least --min-steps, at most --max-steps.")
@click.option("--epochs", type=int, default=None, help="Fine-tune budget in epochs, exactly (when --steps is not given).")
@click.option("--min-steps", type=int, default=default(C, "min_steps"), show_default=True, help="Floor of the default budget.")
@click.option("--max-steps", type=int, default=default(C, "max_steps"), show_default=True, help="Cap of the default budget.")
@click.option("--patience", type=int, default=default(C, "patience"), show_default=True,
              help="Early stopping: checks on the selection rows (20 per run) without a new best.")
@click.option("--target", type=click.Choice(tuple(TARGETS)), default=default(C, "target"), show_default=True, help="Runtime quantization to simulate.")
@click.option("--per-channel/--per-tensor", default=default(C, "per_channel"), show_default=True,
              help="Weight scales per output channel, or per tensor (per gate for TFLite LSTMs).")
@click.option("--batch-size", type=int, default=default(C, "batch_size"), show_default=True, help="Fine-tune batch size.")
@click.option("--learning-rate", type=float, default=default(C, "learning_rate"), show_default=True,
              help="Fine-tune Adam learning rate (small: the model is already trained).")
@click.option("--compare", type=click.Choice(["all", "target"]), default="target", show_default=True,
              help="Modes converted and scored side by side (float / post-training / QAT): only --target, or all three (slower).")
@click.option("--keep-better/--always-qat", default=default(C, "keep_better"), show_default=True,
              help="Write the float model instead when its post-training artifact scores higher than QAT's on held-out rows "
                   "(x_val, else half of x_test); `export` then writes that post-training artifact.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Write the JSON report (metrics per mode, sizes, ranges, sparsity) here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line (the result is still printed).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output model (.keras or .h5), in the input's Keras flavour, plain LSTM layers.")
@click.pass_context
def command(
    ctx: click.Context, model_path: Path, data_path: Path, steps: int | None, epochs: int | None, min_steps: int, max_steps: int,
    patience: int, target: str, per_channel: bool, batch_size: int, learning_rate: float, compare: str, keep_better: bool,
    report_path: Path | None,
    quiet: bool, output: Path,
) -> None:
    """Quantization-aware fine-tune MODEL on --data for --target; write the model to -o.

    The output is a plain float model (same layers as MODEL) whose weights sit on the
    int8 grid; `lstm-deploy export` turns it into fused TFLite / ONNX LSTM kernels.
    The fine-tune is checked 20 times on the selection rows (x_val, else half of x_test: never
    rows the model trained on; see docs/selection.md) under simulated quantization
    (activation ranges calibrated as the converter will); the best check is kept. The result
    says how often the simulation agreed with the real artifact, and plainly whether QAT got
    within 0.5 points of float -- and what to use instead when it did not. QAT never hands over
    less than post-training quantization: when the float model's post-training artifact scores
    higher on held-out rows, -o gets the float model and the result says so.

    \b
    lstm-deploy quantize model.keras --data d.npz -o qat.keras
    lstm-deploy quantize model.keras --data d.npz --target onnx-dynamic --steps 300 --report qat.json -o qat.keras
    """
    from ..atomic import atomic_write_text
    from ..compress.qat import quantize_aware_train
    from ..load.modelio import save_model

    config = build_config(QatConfig, target=target, per_channel=per_channel, steps=steps, epochs=epochs, min_steps=min_steps,
                          max_steps=max_steps, patience=patience, batch_size=batch_size, learning_rate=learning_rate,
                          compare=tuple(TARGETS) if compare == "all" else None, keep_better=keep_better)
    quiet = quiet_of(ctx, quiet)
    outputs = model_outputs(model_path, data_path, output, report_path)
    with outputs:  # a file you made (or edited since lstm-deploy wrote it) is refused here, before minutes of work
        loaded, dataset, progress = load_for_fine_tune(ctx, model_path, data_path, quiet)
        result = quantize_aware_train(loaded.model, dataset, config, progress=progress)
        save_model(result.model, output, flavour=loaded.flavour, intent=config.intent())
        if report_path is not None:
            atomic_write_text(report_path, json.dumps(result.report.to_dict(), indent=2, default=float) + "\n")
    _print(result.report, output, report_path, quiet)
    import shlex

    click.echo("next: " + shlex.join(["lstm-deploy", "export", str(output), "--data", str(data_path), "-o", str(output.parent / "exported")])
               + f"  (writes fp32 and the {config.target} artifact it was trained for)")


def _print(report, output: Path, report_path: Path | None, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    from ..metrics import format_metric

    def m(value: float) -> str:
        return format_metric(report.metric, value)

    console = Console()
    for warning in report.warnings:
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {warning}")
    if quiet:
        console.print(f"{report.verdict}; wrote {output}")
        return
    table = Table(title=f"QAT for {report.target} ({'per-channel' if report.per_channel else 'per-tensor'}), {report.metric} on x_test")
    for col in ("mode", "float", "post-training", "QAT", "PTQ size", "QAT size"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in report.modes:
        table.add_row(r.mode, m(r.float_metric), m(r.ptq_metric), m(r.qat_metric), f"{r.ptq_bytes / 1024:.1f} KB", f"{r.qat_bytes / 1024:.1f} KB")
    console.print(table)
    run = report.finetune
    agree = report.simulation_agreement
    console.print(
        f"simulated {report.target}: {m(report.simulated_metric)}"
        + (f" (agrees with the artifact on {agree:.1%} of x_test)" if agree is not None else "")
        + f"; fine-tune {run['steps_run']} of {run['budget']['steps']} steps, kept step {report.best_step}; "
        f"sparsity {report.sparsity_before:.1%} -> {report.sparsity_after:.1%}" + ("" if report.pruned_zeros_kept else " [pruned zeros NOT kept]")
    )
    console.print(report.verdict)
    what = " (the float model: post-training quantization beat QAT)" if report.handed_over == "post-training" else ""
    console.print(f"wrote {output}{what}" + (f" and {report_path}" if report_path else ""))
