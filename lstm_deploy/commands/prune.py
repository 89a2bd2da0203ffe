"""``lstm-deploy prune``: magnitude or LSTM-unit pruning with fine-tuning and a report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..compress.prune.config import METHODS, SCHEDULES, PruneConfig
from . import build_config, default, load_for_fine_tune, model_outputs, quiet_of


C = PruneConfig


@click.command(name="prune")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help=".npz with x_train, y_train, x_test, y_test [, x_val, y_val].")
@click.option("--sparsity", type=float, default=default(C, "sparsity"), show_default=True,
              help="Fraction to remove in [0, 1): weights (magnitude) or LSTM units (units). With --max-metric-drop: the highest to try.")
@click.option("--method", type=click.Choice(METHODS), default=default(C, "method"), show_default=True,
              help="magnitude: tfmot, smaller compressed files; units: smaller, faster dense model.")
@click.option("--schedule", type=click.Choice(SCHEDULES), default=default(C, "schedule"), show_default=True,
              help="Magnitude sparsity schedule (steps derived from the real fine-tuning length).")
@click.option("--layers", default=None, metavar="NAMES", help="Comma-separated layer names to prune (default: every prunable layer).")
@click.option("--per-layer", is_flag=True, help="Units: remove --sparsity of each layer's units instead of ranking units globally.")
@click.option("--steps", type=int, default=None,
              help="Fine-tuning budget in optimizer steps, exactly. Default: 10 epochs, at least --min-steps and at most --max-steps.")
@click.option("--epochs", type=int, default=None, help="Fine-tuning budget in epochs, exactly (when --steps is not given).")
@click.option("--min-steps", type=int, default=default(C, "min_steps"), show_default=True,
              help="Floor of the default budget (small data sets need many passes to recover).")
@click.option("--max-steps", type=int, default=default(C, "max_steps"), show_default=True, help="Cap of the default budget.")
@click.option("--patience", type=int, default=default(C, "patience"), show_default=True,
              help="Early stopping: checks on the selection rows (20 per run) without a new best, once the target sparsity is reached.")
@click.option("--distill", type=float, default=default(C, "distill"), show_default=True,
              help="Weight of the original model's outputs in the fine-tuning targets (0: labels only).")
@click.option("--batch-size", type=int, default=default(C, "batch_size"), show_default=True, help="Fine-tuning batch size.")
@click.option("--learning-rate", type=float, default=default(C, "learning_rate"), show_default=True, help="Fine-tuning Adam learning rate.")
@click.option("--max-metric-drop", type=float, default=None,
              help="Search (bisection) for the highest sparsity <= --sparsity whose metric on the selection rows drops at most this, in the "
                   "metric's unit: 0.01 = one accuracy point; RMSE in target units.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None, help="Write the report as JSON here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line (the result is still printed).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output model (.keras or .h5), saved in the input's Keras flavour.")
@click.pass_context
def command(
    ctx: click.Context, model_path: Path, data_path: Path, sparsity: float, method: str, schedule: str, layers: str | None, per_layer: bool,
    steps: int | None, epochs: int | None, min_steps: int, max_steps: int, patience: int, distill: float, batch_size: int,
    learning_rate: float, max_metric_drop: float | None, report_path: Path | None, quiet: bool, output: Path,
) -> None:
    """Prune MODEL and fine-tune it on --data; write the pruned model to -o.

    The fine-tune is a budget of optimizer steps checked 20 times on the selection rows
    (x_val, else half of x_test: never rows the model trained on; see docs/selection.md):
    magnitude masks reach their target within the first 40 % of it, the rest recovers; the
    best checked weights are kept, and a warning says when the budget ran out before the
    metric on the selection rows recovered. -v prints every check.

    \b
    lstm-deploy prune model.keras --data d.npz --sparsity 0.8 -o pruned.keras
    lstm-deploy prune model.keras --data d.npz --sparsity 0.5 --method units -o small.keras
    lstm-deploy prune model.keras --data d.npz --sparsity 0.95 --max-metric-drop 0.01 -o best.keras
    """
    from ..atomic import atomic_write_text
    from ..compress.prune import prune_model
    from ..load.modelio import save_model

    names = tuple(n.strip() for n in layers.split(",") if n.strip()) if layers is not None else None
    config = build_config(PruneConfig, sparsity=sparsity, method=method, schedule=schedule, layers=names, per_layer=per_layer,
                          steps=steps, epochs=epochs, min_steps=min_steps, max_steps=max_steps, patience=patience, distill=distill,
                          batch_size=batch_size, learning_rate=learning_rate, max_metric_drop=max_metric_drop)
    quiet = quiet_of(ctx, quiet)
    outputs = model_outputs(model_path, data_path, output, report_path)
    with outputs:  # a file you made (or edited since lstm-deploy wrote it) is refused here, before minutes of work
        loaded, dataset, progress = load_for_fine_tune(ctx, model_path, data_path, quiet)
        result = prune_model(loaded.model, dataset, config, progress=progress)
        save_model(result.model, output, flavour=loaded.flavour)
        if report_path is not None:
            atomic_write_text(report_path, json.dumps(result.report.to_dict(), indent=2, default=float) + "\n")
    _print(result.report, output, report_path, quiet)
    import shlex

    qat = output.with_name(output.stem + "_qat" + output.suffix)
    click.echo("next: " + shlex.join(["lstm-deploy", "quantize", str(output), "--data", str(data_path), "-o", str(qat)])
               + "  (or export it as it is: lstm-deploy export " + shlex.join([str(output), "--data", str(data_path), "-o", str(output.parent / "exported")]) + ")")


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def _print(report, output: Path, report_path: Path | None, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    from ..metrics import format_drop, format_metric

    console = Console()
    for warning in report.warnings:
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {warning}")
    if quiet:
        console.print(f"{report.metric} on x_test: {format_metric(report.metric, report.metric_before)} -> "
                      f"{format_metric(report.metric, report.metric_after)}; wrote {output}")
        return
    table = Table(title=f"prune ({report.method}, target {report.target_sparsity:.1%})")
    for col in ("layer", "class", "params", "nonzero", "sparsity", "units"):
        table.add_column(col, justify="left" if col in ("layer", "class") else "right")
    for row in report.layers:
        params = f"{row['params_before']} -> {row['params_after']}"
        units = f"{row['units_before']} -> {row['units_after']}" if "units_before" in row else ""
        table.add_row(row["layer"], row["class"], params, str(row["nonzero_after"]), f"{row['sparsity']:.1%}", units)
    console.print(table)
    b, a = report.size_before, report.size_after
    console.print(
        f"{report.metric} on x_test: {format_metric(report.metric, report.metric_before)} -> {format_metric(report.metric, report.metric_after)} "
        f"(drop {format_drop(report.metric, report.metric_drop)}); "
        f"weights raw {_kb(b['raw_bytes'])} -> {_kb(a['raw_bytes'])}, gzip {_kb(b['gzip_bytes'])} -> {_kb(a['gzip_bytes'])}"
    )
    run = report.finetune
    if run:
        console.print(f"fine-tune: {run['steps_run']} of {run['budget']['steps']} steps ({run['budget']['source']}), "
                      f"kept step {run['best_step']} (selection rows {format_metric(report.metric, run['best_val_metric'])}, "
                      f"{format_metric(report.metric, run['val_metric_before'])} before)" + (", stopped early" if run["stopped_early"] else ""))
    if report.speedup is not None:
        console.print(
            f"ONNX Runtime batch-1 p50: {report.latency_before['p50_ms']:.3f} ms -> {report.latency_after['p50_ms']:.3f} ms "
            f"({report.speedup:.2f}x)"
        )
    for point in report.search:
        status = "skipped" if "skipped" in point else ("ok" if point["ok"] else "over budget")
        drop = f", selection-row drop {format_drop(report.metric, point['metric_drop'])}" if "metric_drop" in point else ""
        console.print(f"  search: sparsity {point['sparsity']:.4f}{drop}: {status}")
    for note in report.notes:  # which rows selected, and the metric on the rows that did not
        console.print(f"note: {note}")
    console.print(f"wrote {output}" + (f" and {report_path}" if report_path else ""))
