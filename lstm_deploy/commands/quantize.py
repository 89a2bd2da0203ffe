"""``lstm-deploy quantize``: quantization-aware fine-tuning that still exports fused LSTMs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..compress.qat.config import TARGETS, QatConfig
from . import build_config, default

C = QatConfig


@click.command(name="quantize")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help=".npz with x_train, y_train, x_test, y_test [, x_val, y_val].")
@click.option("--epochs", type=int, default=default(C, "epochs"), show_default=True,
              help="QAT fine-tune epochs (the best epoch under simulated quantization, on the validation split, is kept; 0 = snap weights only).")
@click.option("--target", type=click.Choice(tuple(TARGETS)), default=default(C, "target"), show_default=True, help="Runtime quantization to simulate.")
@click.option("--per-channel/--per-tensor", default=default(C, "per_channel"), show_default=True,
              help="Weight scales per output channel, or per tensor (per gate for TFLite LSTMs).")
@click.option("--batch-size", type=int, default=default(C, "batch_size"), show_default=True, help="Fine-tune batch size.")
@click.option("--learning-rate", type=float, default=default(C, "learning_rate"), show_default=True,
              help="Fine-tune Adam learning rate (small: the model is already trained).")
@click.option("--compare", type=click.Choice(["all", "target"]), default="all", show_default=True,
              help="Modes converted and scored side by side (float / post-training / QAT): all three, or only --target (faster).")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Write the JSON report (metrics per mode, sizes, ranges, sparsity) here.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output model (.keras or .h5), in the input's Keras flavour, plain LSTM layers.")
def command(
    model_path: Path, data_path: Path, epochs: int, target: str, per_channel: bool, batch_size: int,
    learning_rate: float, compare: str, report_path: Path | None, output: Path,
) -> None:
    """Quantization-aware fine-tune MODEL on --data for --target; write the model to -o.

    The output is a plain float model (same layers as MODEL) whose weights sit on the
    int8 grid; `lstm-deploy export` turns it into fused TFLite / ONNX LSTM kernels.

    \b
    lstm-deploy quantize model.keras --data d.npz -o qat.keras
    lstm-deploy quantize model.keras --data d.npz --target onnx-dynamic --epochs 3 --report qat.json -o qat.keras
    """
    from ..atomic import atomic_write_text
    from ..compress.qat import quantize_aware_train
    from ..load.dataset import load_data
    from ..load.modelio import MODEL_SUFFIXES, load_model, save_model
    from ..paths import check_distinct, check_output_file

    config = build_config(QatConfig, target=target, per_channel=per_channel, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                          compare=tuple(TARGETS) if compare == "all" else None)
    check_output_file(output, "-o", inputs={"model": model_path, "data": data_path}, suffixes=MODEL_SUFFIXES)  # before minutes of work
    if report_path is not None:
        check_output_file(report_path, "--report", inputs={"model": model_path, "data": data_path})
        check_distinct(o=output, report=report_path)
    loaded = load_model(model_path)
    dataset = load_data(data_path, model_input_shape=tuple(loaded.model.inputs[0].shape[1:]),
                        model_output_shape=tuple(loaded.model.outputs[0].shape[1:]))
    result = quantize_aware_train(loaded.model, dataset, config)
    save_model(result.model, output, flavour=loaded.flavour)
    if report_path is not None:
        atomic_write_text(report_path, json.dumps(result.report.to_dict(), indent=2, default=float) + "\n")
    _print(result.report, output, report_path)


def _print(report, output: Path, report_path: Path | None) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    from ..metrics import format_metric

    def m(value: float) -> str:
        return format_metric(report.metric, value)

    console = Console()
    table = Table(title=f"QAT for {report.target} ({'per-channel' if report.per_channel else 'per-tensor'}), {report.metric} on x_test")
    for col in ("mode", "float", "post-training", "QAT", "PTQ size", "QAT size"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in report.modes:
        table.add_row(r.mode, m(r.float_metric), m(r.ptq_metric), m(r.qat_metric), f"{r.ptq_bytes / 1024:.1f} KB", f"{r.qat_bytes / 1024:.1f} KB")
    console.print(table)
    console.print(
        f"Keras: float {m(report.float_metric)}, simulated-quantized {m(report.fake_quant_metric)}, QAT model {m(report.qat_metric)} "
        f"(best epoch {report.best_epoch}/{report.epochs_run}); sparsity {report.sparsity_before:.1%} -> {report.sparsity_after:.1%}"
        + ("" if report.pruned_zeros_kept else " [pruned zeros NOT kept]")
    )
    console.print(f"wrote {output}" + (f" and {report_path}" if report_path else ""))
