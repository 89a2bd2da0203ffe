"""``lstm-deploy run [RECIPE.yaml]``: the whole pipeline in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


#: Recipe locations built from flags -> the flag that set them (messages name what the user typed).
FLAGS = {("prune", "sparsity"): "--prune", ("prune", "method"): "--prune-method", ("export", "formats"): "--formats",
         ("export", "quantize"): "--quantize", ("benchmark", "runtimes"): "--runtimes", ("benchmark", "batch_sizes"): "--batch-sizes",
         ("data",): "--data", ("model",): "--model", ("name",): "--model"}


def _flag(loc: tuple[str | int, ...]) -> str:
    names = tuple(p for p in loc if isinstance(p, str) and p != "stages")
    return next((FLAGS[names[:n]] for n in (2, 1) if names[:n] in FLAGS), ".".join(names) or "flags")


def recipe_from_flags(model: str | None, data: str | None, prune: float | None, prune_method: str, qat: bool, formats: str | None,
                      quantize: str | None, runtimes: str | None, batch_sizes: str | None) -> dict[str, Any]:
    """Build the same structure a YAML recipe holds from ad-hoc CLI flags."""
    if not model or not data:
        raise click.UsageError("give a RECIPE file, or --model and --data (plus stage flags) to build one")
    stages: list[dict[str, Any]] = []
    if prune is not None:
        stages.append({"prune": {"sparsity": prune, "method": prune_method}})
    if qat:
        stages.append({"quantize": {}})
    export = {"formats": _csv(formats), "quantize": _csv(quantize)}
    stages.append({"export": {k: v for k, v in export.items() if v}})  # left out: the export stage's own defaults
    bench: dict[str, Any] = {}
    if runtimes:
        bench["runtimes"] = _csv(runtimes)
    if batch_sizes:
        try:
            bench["batch_sizes"] = [int(b) for b in _csv(batch_sizes) or []]
        except ValueError:
            raise click.BadParameter(f"expected comma-separated integers, got {batch_sizes!r}", param_hint="--batch-sizes") from None
    stages += [{"benchmark": bench}, {"report": {}}]
    from ..pipeline.recipe import recipe_name

    return {"name": recipe_name(Path(model).stem), "data": {"kind": "npz", "path": str(Path(data).resolve())},
            "model": {"path": str(Path(model).resolve())}, "stages": stages}


def portable_recipe_yaml(recipe: Any, recipe_dir: Path, target_dir: Path) -> str:
    """``recipe`` as YAML whose data/model paths are relative to ``target_dir`` (where the YAML goes).

    Recipe paths are read relative to the recipe's folder, so the saved file keeps working when
    the folder holding it and its inputs is moved or checked in.

    Example:
        >>> portable_recipe_yaml(recipe, Path("."), Path("recipes"))    # doctest: +SKIP
        'name: m ... path: ../data/d.npz ...'
    """
    import os

    import yaml

    data = yaml.safe_load(recipe.to_yaml())
    for section in ("data", "model"):
        entry = data.get(section) or {}
        if isinstance(entry.get("path"), str):
            absolute = (recipe_dir / entry["path"]).resolve()
            entry["path"] = Path(os.path.relpath(absolute, target_dir.resolve())).as_posix()
    return yaml.safe_dump(data, sort_keys=False)


@click.command("run")
@click.argument("recipe_path", metavar="[RECIPE]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Output folder (default: runs/<recipe name>).")
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; run nothing.")
@click.option("--force", is_flag=True, help="Rerun every step even if its inputs and settings are unchanged.")
@click.option("--small", is_flag=True, help="Reduced smoke-test mode: few samples, epochs and repeats.")
@click.option("--save-recipe", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the recipe (from the file or the flags) to this YAML file, paths relative to it, and stop (add --and-run to run it too).")
@click.option("--and-run", is_flag=True, help="With --save-recipe: also run the recipe.")
@click.option("--model", "model", default=None, help="Without RECIPE: the trained model file.")
@click.option("--data", "data", default=None, help="Without RECIPE: the .npz data file.")
@click.option("--prune", "prune", type=float, default=None, help="Without RECIPE: prune to this sparsity first.")
@click.option("--prune-method", type=click.Choice(["magnitude", "units"]), default="magnitude", show_default=True)
@click.option("--qat", is_flag=True, help="Without RECIPE: add quantization-aware training.")
@click.option("--formats", default=None, help="Without RECIPE: export formats, e.g. tflite,onnx.")
@click.option("--quantize", "quantize", default=None, help="Without RECIPE: export modes, e.g. fp32,dynamic,int8.")
@click.option("--runtimes", default=None, help="Without RECIPE: benchmark runtimes, e.g. tflite,onnxruntime.")
@click.option("--batch-sizes", default=None, help="Without RECIPE: benchmark batch sizes, e.g. 1,32.")
@click.option("--unsafe", is_flag=True, help="Allow a model file that carries code (Lambda layers); it runs. A recipe cannot set this.")
@click.pass_context
def command(ctx: click.Context, recipe_path: Path | None, out_dir: Path | None, dry_run: bool, force: bool, small: bool, save_recipe: Path | None,
            model: str | None, data: str | None, prune: float | None, prune_method: str, qat: bool, formats: str | None, quantize: str | None,
            runtimes: str | None, batch_sizes: str | None, unsafe: bool, and_run: bool) -> None:
    """Run a recipe: data -> model -> prune -> quantize -> export -> benchmark -> report.

    \b
    lstm-deploy run recipes/quickstart.yaml -o runs/quickstart
    lstm-deploy run --model m.keras --data d.npz --prune 0.5 --quantize fp32,dynamic --save-recipe mine.yaml
    """
    from ..atomic import atomic_write_text
    from ..paths import Outputs, check_output_file
    from ..pipeline.runner import check_inputs, check_outputs, plan, run_recipe
    from ..pipeline.recipe import load_recipe, parse_recipe

    if recipe_path is not None:
        recipe = load_recipe(recipe_path)
        recipe_dir = recipe_path.parent
    else:
        recipe = parse_recipe(recipe_from_flags(model, data, prune, prune_method, qat, formats, quantize, runtimes, batch_sizes),
                              source="command-line flags", where=_flag)
        recipe_dir = Path.cwd()
    out = out_dir or Path("runs") / recipe.name
    check_inputs(recipe, recipe_dir)  # every path, in and out, before anything is written
    check_outputs(recipe, out, recipe_dir)
    if save_recipe is not None:
        given = {"recipe": recipe_path, "model": model, "data": data}
        check_output_file(save_recipe, "--save-recipe", inputs=given, suffixes=(".yaml", ".yml"))
        with Outputs(given).file(save_recipe, "--save-recipe"):  # your own YAML file is never replaced
            atomic_write_text(save_recipe, portable_recipe_yaml(recipe, recipe_dir, save_recipe.parent))
        click.echo(f"recipe written to {save_recipe}" + ("" if and_run else f"; run it with: lstm-deploy run {save_recipe}"))
        if not and_run:
            return
    if dry_run:
        click.echo(f"plan for '{recipe.name}' -> {out}/" + (" (small mode)" if small else ""))
        for i, line in enumerate(plan(recipe), 1):
            click.echo(f"  {i}. {line}")
        return
    verbose, quiet = (ctx.obj or {}).get("verbose", 0), bool((ctx.obj or {}).get("quiet"))
    from rich.console import Console

    console = Console(stderr=True)

    def say(msg: str) -> None:
        if not quiet and (verbose or msg.endswith(("running", "skipped", " s")) or "fine-tuning" in msg):
            console.print(f"[dim]{msg}[/dim]")

    result = run_recipe(recipe, out, recipe_dir=recipe_dir, force=force, small=small, progress=say, unsafe=unsafe)
    ran = [s.name for s in result.steps if not s.skipped]
    skipped = [s.name for s in result.steps if s.skipped]
    click.echo(f"done: {len(ran)} step(s) run" + (f", {len(skipped)} unchanged ({', '.join(skipped)})" if skipped else "") + f" -> {out}/")
    if result.report_md:
        click.echo(f"report: {result.report_md}  and  {result.report_html}")
    from ..report.recommend import render_text
    from ..report.run import recommendation

    for line in render_text(recommendation(out, result.steps)):  # the answer comes last
        click.echo(line)
