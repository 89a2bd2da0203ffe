"""What a search leaves in ``OUTDIR``: the winner, how to rebuild it, and the evidence.

* ``<artifact>`` + ``<artifact>.json`` -- the winning artifact and its manifest (a copy of the
  trial's); ``model.keras`` -- the winner's Keras model, in the input model's flavour;
* ``recipe.yaml`` -- ``lstm-deploy run recipe.yaml`` rebuilds the winner from the original model;
* ``report.json`` -- ``recommendation`` (what to ship per goal), ``baseline``, ``best`` and
  ``plain_best`` (the best plain export; ``artifact`` relative to ``OUTDIR``; ``selection_metric``
  on the selection rows, ``confirmation_metric`` (= ``metric``) on the confirmation rows,
  ``test_metric`` on all of ``x_test``, ``latency_ms``, ``size_bytes``, ``gzip_bytes``; ratios
  against the baseline measured in the same benchmark run), ``rows`` (which rows of ``x_test``
  selected and which confirmed), ``confirmation`` (rounds, how many candidates were confirmed,
  which failed and why), ``finalists`` (every entry confirmed), ``pareto`` (trials not dominated
  in selection metric and objective), ``trials`` (every configuration run, its selection-row
  metric, latency, size and status), the search space as ranges and the search's own record;
  ``partial`` after Ctrl-C;
* ``report.md`` / ``report.html`` with the Pareto plots (metric vs latency, metric vs size; baseline marked);
* ``baseline/`` (the original's fp32 exports) and ``trials/NNNN/`` (each trial's artifact).

Example:
    >>> json.loads(Path("opt/report.json").read_text())["best"]["artifact"]   # doctest: +SKIP
    'model.dynamic.onnx'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .. import __version__, metrics
from ..atomic import atomic_write_bytes, atomic_write_text
from .run import _Run
from .search import objective_value, pareto

if TYPE_CHECKING:
    from .confirm import Confirmation

SCHEMA = "lstm-deploy/optimize"
SCHEMA_VERSION = 2
PLOTS = ("pareto_latency.png", "pareto_size.png")


def _entry(e: dict[str, Any], out: Path) -> dict[str, Any]:
    keep = ("role", "kind", "trial", "format", "quantization", "threads", "metric", "metric_drop", "test_metric", "test_drop", "n_confirm",
            "latency_ms", "p90_ms", "p99_ms", "size_bytes", "gzip_bytes", "within_budget", "bench_status", "why")
    row = {k: e[k] for k in keep if k in e}
    row["selection_metric"], row["selection_drop"] = e.get("val_metric"), e.get("val_drop")
    row["confirmation_metric"], row["confirmation_drop"] = e.get("metric"), e.get("metric_drop")
    row["artifact"] = str(Path(e["path"]).resolve().relative_to(out.resolve()))
    if "outcome" in e:
        row["candidate"], row["qat"] = e["outcome"]["candidate"], e["outcome"]["qat"]
    return row


def _install_winner(run: "_Run", best: dict[str, Any]) -> dict[str, Path]:
    """Copy the winning artifact + manifest into OUTDIR and save its Keras model in the user's flavour."""
    from ..load.modelio import load_model, save_model

    src = Path(best["path"])
    target = run.out / src.name
    if src.resolve() != target.resolve():
        for a, b in ((src, target), (Path(str(src) + ".json"), Path(str(target) + ".json"))):
            atomic_write_bytes(b, a.read_bytes())
    keras_src = src.parent / "model.keras"
    model = load_model(keras_src).model if best["kind"] == "finalist" and keras_src.is_file() else run.loaded.model
    model_path = save_model(model, run.out / "model.keras", flavour=run.loaded.flavour)
    return {"artifact": target, "manifest": Path(str(target) + ".json"), "model": model_path}


def _recipe(run: "_Run", best: dict[str, Any]) -> str:
    """The recipe that rebuilds the winner from the original model.

    Written as plain YAML, stage options as the trial recorded them (defaults left out); the recipe
    schema lives in :mod:`lstm_deploy.pipeline.recipe`, a floor above this one, so
    ``tests/optimize/test_winner_recipe.py`` parses what this writes.
    """
    import numpy as np

    data_path = run.data_path
    if data_path is None:  # a Dataset given in Python: ship its arrays beside the recipe
        data_path = run.out / "data.npz"
        arrays = {k: getattr(run.dataset, k) for k in ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val") if getattr(run.dataset, k) is not None}
        np.savez(data_path, **arrays)
    if best["kind"] == "finalist":
        stages = list(best["outcome"]["stages"])
        if not any("benchmark" in st for st in stages):
            stages.append({"benchmark": {"runtimes": [best["format"] == "onnx" and "onnxruntime" or "tflite"], "include_keras": False}})
    else:
        stages = [{"export": {"formats": [best["format"]], "quantize": ["fp32"]}},
                  {"benchmark": {"runtimes": [best["format"] == "onnx" and "onnxruntime" or "tflite"], "include_keras": False}}]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", run.loaded.path.stem).strip("-") or "model"  # a recipe name is a plain folder name
    recipe = {"name": f"optimized-{stem}", "description": f"winner of lstm-deploy optimize ({run.config.objective})",
              "seed": run.config.seed, "data": {"kind": "npz", "path": str(data_path.resolve())},
              "model": {"path": str(run.loaded.path.resolve())}, "stages": stages + [{"report": {}}]}
    return yaml.safe_dump(recipe, sort_keys=False)


def _ratios(baseline: dict[str, Any], best: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 3) if a and b else None
    return {"speedup": ratio(baseline.get("latency_ms"), best.get("latency_ms")),
            "size_ratio": ratio(baseline.get("size_bytes"), best.get("size_bytes")),
            "gzip_ratio": ratio(baseline.get("gzip_bytes"), best.get("gzip_bytes"))}


def write_outputs(run: "_Run", baselines: list[dict[str, Any]], result: "Confirmation", outcomes: list[dict[str, Any]], search: dict[str, Any],
                  notes: list[str]) -> tuple[dict[str, Any], dict[str, Path]]:
    """Write everything the module docstring lists; return ``(report, paths)``."""
    from .plots import write_plots
    from .recommend import recommendation

    out, cfg, task = run.out, run.config, run.dataset.task
    baseline, best, finalists = result.baseline, result.best, result.entries
    paths = _install_winner(run, best)
    paths["recipe"] = atomic_write_text(out / "recipe.yaml", _recipe(run, best))
    for o in outcomes:
        o["objective"] = objective_value(o, cfg.objective) if o["status"] == "ok" else None
    best_row = {**_entry(best, out), "artifact": paths["artifact"].name, "model": paths["model"].name, **_ratios(baseline, best)}
    plain = None if result.plain_best is None else {**_entry(result.plain_best, out), **_ratios(baseline, result.plain_best)}
    name = metrics.primary_metric(task)
    resolution = run.holdout.resolution_note(task, cfg.max_metric_drop)
    rec = recommendation([*baselines, *finalists], name, cfg.max_metric_drop, out,
                         note=run.holdout.summary() + (f"; {resolution}" if resolution else ""))
    report = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "lstm_deploy": __version__, "partial": search["interrupted"],
        "recommendation": rec,
        "objective": cfg.objective, "metric": name, "max_metric_drop": cfg.max_metric_drop,
        "model": {"file": run.loaded.path.name, "sha256": run.loaded.sha256, "flavour": run.loaded.flavour, "params": run.params},
        "data": {"source": run.dataset.source, "task": task, "train": len(run.dataset.x_train), "test": len(run.dataset.x_test)},
        "rows": run.holdout.describe(), "reference": run.reference, "baseline": _entry(baseline, out),
        "baselines": [_entry(b, out) for b in baselines], "best": best_row, "plain_best": plain, "confirmation": result.record(),
        "finalists": [_entry(f, out) for f in finalists], "pareto": pareto(outcomes, cfg.objective, task),
        "trials": outcomes, "space": run.space.describe(), "search": search, "settings": cfg.model_dump(mode="json"),
        "notes": notes + list(run.space.notes),
    }
    paths["json"] = atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=str) + "\n")
    plots = write_plots(report, out)
    from .markdown import report_markdown

    md = report_markdown(report, [p.name for p in plots])
    paths["md"] = atomic_write_text(out / "report.md", md)
    from ..report.html import inline_images, write_page

    paths["html"] = write_page(out / "report.html", "lstm-deploy optimize", md, inline_images(plots))
    return report, paths
