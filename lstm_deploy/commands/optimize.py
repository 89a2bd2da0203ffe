"""``lstm-deploy optimize``: the fastest or smallest deployable artifact within an accuracy budget."""

from __future__ import annotations

from pathlib import Path

import click

from ..optimize.config import OptimizeConfig
from . import build_config, default

C = OptimizeConfig


def _threads(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint="--threads") from None


@click.command(name="optimize")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path),
              help=".npz with x_train, y_train, x_test, y_test [, x_val, y_val]; x_val (else half of x_test) selects, x_test (else its other half) confirms.")
@click.option("--max-metric-drop", type=float, default=default(C, "max_metric_drop"), show_default=True,
              help="Accuracy budget against the original model, in the metric's unit: 0.01 = one accuracy point; RMSE in target units.")
@click.option("--objective", type=click.Choice(["latency", "size"]), default=default(C, "objective"), show_default=True,
              help="latency: p50 at batch 1 on the artifact's runtime; size: gzip bytes of the artifact.")
@click.option("--format", "fmt", type=click.Choice(["onnx", "tflite", "any"]), default=default(C, "format"), show_default=True, help="Artifact formats to search.")
@click.option("--trials", type=int, default=None, help="Cap on trials to finish (default: the time budget alone bounds the search).")
@click.option("--time-budget", type=float, default=default(C, "time_budget"), show_default=True, metavar="MINUTES",
              help="Minutes for the whole search, final scoring included.")
@click.option("--storage", default=None, metavar="URL", help="Optuna storage, e.g. sqlite:///study.db: resumable after Ctrl-C or a crash.")
@click.option("--study-name", default=None, help="Study name in --storage (default: derived from model, data and settings).")
@click.option("--ray-address", default=None, metavar="ADDRESS", help="Run trials on a Ray cluster (auto or HOST:PORT); needs the 'ray' extra.")
@click.option("--threads", "threads", default=None, metavar="N[,N...]", help="CPU thread counts to choose from (default: 1).")
@click.option("--finetune-steps", type=int, default=default(C, "finetune_steps"), show_default=True, help="Optimizer steps of each fine-tune.")
@click.option("--per-layer-units", is_flag=True, help="Search the fraction of units kept per LSTM layer instead of globally.")
@click.option("--seed", type=int, default=default(C, "seed"), show_default=True)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
def command(model_path: Path, data_path: Path, max_metric_drop: float, objective: str, fmt: str, trials: int | None, time_budget: float,
            storage: str | None, study_name: str | None, ray_address: str | None, threads: str | None, finetune_steps: int,
            per_layer_units: bool, seed: int, out_dir: Path) -> None:
    """Search pruning, quantization (QAT where needed), format and threads for the best artifact of MODEL.

    \b
    lstm-deploy optimize model.keras --data d.npz --max-metric-drop 0.01 -o opt/
    lstm-deploy optimize model.keras --data d.npz --objective size --format tflite -o opt-size/
    lstm-deploy optimize model.keras --data d.npz --storage sqlite:///study.db -o opt/   # Ctrl-C, then resume
    lstm-deploy optimize model.keras --data d.npz --ray-address auto -o opt/
    """
    from rich.console import Console

    from ..optimize import optimize_model
    from ..optimize.api import OUTPUT_FILES
    from ..optimize.storage import check_storage
    from ..paths import Outputs, check_output_dir

    config = build_config(OptimizeConfig, max_metric_drop=max_metric_drop, objective=objective, format=fmt, trials=trials,
                          time_budget=time_budget, storage=storage, study_name=study_name, ray_address=ray_address, threads=_threads(threads),
                          finetune_steps=finetune_steps, per_layer_units=per_layer_units or None, seed=seed)
    check_storage(config.storage)  # a database lstm-deploy did not create is refused before anything is loaded
    given = {"model": model_path, "data": data_path}
    check_output_dir(out_dir, "-o", inputs=given)
    console = Console(stderr=True, highlight=False)
    with Outputs(given).folder(out_dir, OUTPUT_FILES, "-o"):  # the input model and your own files in OUT are never replaced
        result = optimize_model(model_path, data_path, out_dir, config, progress=lambda msg: console.print(msg, markup=False))
    _print(result)
    if result.partial:
        raise click.exceptions.Exit(130)


def _row(label: str, row: dict, name: str) -> str:  # type: ignore[type-arg]
    from ..metrics import format_drop, format_metric

    drop = format_drop(name, row["metric_drop"]) if row.get("metric_drop") is not None else "-"
    return (f"{label}: {row['artifact']}: {name} {format_metric(name, row.get('metric'))} on {row.get('n_confirm', '?')} confirmation rows "
            f"(drop {drop}), {row.get('latency_ms') or 0:.3f} ms, {(row.get('gzip_bytes') or 0) / 1024:.1f} KB gzip")


def _print(result) -> None:  # type: ignore[no-untyped-def]
    r = result.report
    best, name = r["best"], r["metric"]
    click.echo(_row("baseline", r["baseline"], name))
    if r.get("plain_best"):
        click.echo(_row("best plain export", r["plain_best"], name))
    ratios = ", ".join(f"{best[k]:.2f}x {w}" for k, w in (("speedup", "faster"), ("gzip_ratio", "smaller (gzip)")) if best.get(k))
    click.echo(_row("winner", best, name) + f" ({ratios} than the baseline)")
    c = r["confirmation"]
    click.echo(f"confirmed {c['candidates_confirmed']} candidates in {c['rounds']} round(s), {c['kept_budget']} kept the budget")
    for note in r["notes"]:
        click.echo(f"note: {note}")
    if result.partial:
        click.echo("PARTIAL: the search was interrupted; the best artifact so far was kept", err=True)
    click.echo(f"wrote {result.out_dir}/report.json, report.md, report.html, recipe.yaml")
    labels = {"fastest_cpu": "fastest on this CPU", "smallest": "smallest file", "phone": "phone-class device"}
    for goal, g in r["recommendation"]["goals"].items():  # the answer comes last: what to ship
        click.echo(f"ship ({labels[goal]}): " + ("nothing kept the budget" if g is None else f"{g['artifact']}{' (tie)' if g['tie'] else ''}: {g['why']}"))
