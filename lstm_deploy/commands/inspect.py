"""``lstm-deploy inspect MODEL``: architecture, parameters, MACs, memory, stage support."""

from __future__ import annotations

import json

import click

STAGE_COLUMNS = (("magnitude_prune", "prune"), ("unit_prune", "units"), ("qat", "QAT"), ("fused_export", "fused"))


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@click.command("inspect")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object (params, macs, layers, ...).")
@click.option("--seq-len", type=int, default=None, help="Sequence length for MACs when the model's is dynamic.")
@click.option("--unsafe", is_flag=True, help="Allow models with Lambda layers (runs code from the file).")
def command(model_path: str, as_json: bool, seq_len: int | None, unsafe: bool) -> None:
    """Show a model's layers, parameters, MACs, weight memory and which stages apply."""
    from ..load.summary import inspect_model
    from ..load.modelio import load_model

    loaded = load_model(model_path, unsafe=unsafe)
    report = inspect_model(loaded.model, seq_len=seq_len, flavour=loaded.flavour)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    console.print(f"[bold]{report.name}[/bold]  ({loaded.flavour}, {model_path})")
    for t in report.inputs:
        console.print(f"  input  {t.name}: {tuple(t.shape)} {t.dtype}")
    for t in report.outputs:
        console.print(f"  output {t.name}: {tuple(t.shape)} {t.dtype}")
    table = Table()
    for col in ("#", "layer", "type", "output shape", "params", "MACs") + tuple(c for _, c in STAGE_COLUMNS):
        table.add_column(col, justify="right" if col in ("#", "params", "MACs") else "left", no_wrap=col != "type")
    reasons: dict[str, list[str]] = {}
    for info in report.layers:
        cells = []
        for key, short in STAGE_COLUMNS:
            verdict = info.stages[key]
            word = verdict.split(" ", 1)[0].rstrip(":")
            cells.append(word if word in ("yes", "no") else "-")
            if verdict != "yes" and word != "n/a":
                reasons.setdefault(f"{short}: {verdict}", []).append(info.name)
        table.add_row(str(info.index), info.name, info.type, str(tuple(info.output_shape)), f"{info.params:,}", f"{info.macs:,}", *cells)
    console.print(table)
    w = report.weight_bytes
    console.print(
        f"params {report.params:,} (trainable {report.trainable_params:,})   MACs/sequence {report.macs:,}"
        + (f" (seq_len {report.seq_len})" if report.seq_len else "")
        + f"\nweights: fp32 {_fmt_bytes(w['fp32'])}, fp16 {_fmt_bytes(w['fp16'])}, int8 {_fmt_bytes(w['int8'])}"
    )
    for reason, names in reasons.items():
        console.print(f"  {reason}  [dim]({', '.join(names)})[/dim]")
    for note in report.notes:
        console.print(f"note: {note}")
