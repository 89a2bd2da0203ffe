"""The recipe schema as Markdown, generated from the pydantic models so the document cannot drift.

``docs/recipe_schema.md`` is this module's output; ``tests/pipeline/test_schema_doc.py`` fails
when the file differs from what the models say. Regenerate after changing a config::

    python -m lstm_deploy.pipeline.schema_doc > docs/recipe_schema.md

Example:
    >>> "## Stages" in recipe_schema_markdown()      # doctest: +SKIP
    True
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def _type_name(annotation: Any) -> str:
    """A short, readable type: ``int``, ``float | None``, ``list of int``, ``'lstm' | 'bilstm'``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join(_type_name(a) for a in args)
    if origin in (list, tuple):
        inner = [a for a in args if a is not Ellipsis]
        return f"list of {_type_name(inner[0])}" if inner else "list"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


#: Meanings of fields whose classes carry no ``Attributes:`` docstring section.
NOTES = {
    "Recipe": {"name": "plain name; the run folder defaults to runs/NAME", "description": "free text, shown in the report",
               "seed": "seed of data splits and training", "data": "where the data comes from (below)",
               "model": "a trained model file or a baseline to train (below)", "stages": "the steps, in pipeline order (below)"},
    "ModelSpec": {"path": "a .keras / .h5 / SavedModel file, relative to the recipe", "train": "train a small baseline instead (below)"},
    "NpzData": {"path": ".npz with x_train/y_train/x_test/y_test (optional x_val/y_val, label_names), relative to the recipe"},
    "CsvSeriesData": {"path": "CSV file, relative to the recipe", "column": "the value column (default: the last numeric one)"},
    "TextCsvData": {"path": "CSV file, relative to the recipe"},
}


def _own_doc(cls: type) -> str:
    """The class's own docstring (not one inherited from pydantic's BaseModel)."""
    return inspect.cleandoc(cls.__dict__.get("__doc__") or "")


def _descriptions(cls: type) -> dict[str, str]:
    """``name: text`` entries of the class docstring's ``Attributes:`` section (continuation lines joined)."""
    doc = _own_doc(cls)
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    out: dict[str, str] = {}
    names: list[str] = []
    for line in section.splitlines():
        if line and not line.startswith(" "):
            break  # the next section
        found = re.match(r"^ {4}(\w[\w/, ]*?):\s*(.*)$", line)
        if found:
            names = [n.strip() for n in re.split(r"[,/]", found.group(1)) if n.strip()]
            for n in names:
                out[n] = found.group(2).strip()
        elif names and line.strip():
            for n in names:
                out[n] += " " + line.strip()
    return {**NOTES.get(cls.__name__, {}), **out}


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(see below)"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value}`" if value is not None else "`null`"


def model_table(cls: type[BaseModel], skip: tuple[str, ...] = ()) -> str:
    """One Markdown table of ``cls``'s fields: name, type, default, meaning."""
    notes = _descriptions(cls)
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, field in cls.model_fields.items():
        if name in skip:
            continue
        text = " ".join(notes.get(name, "").split()).replace("|", "\\|")
        rows.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {text} |")
    return "\n".join(rows)


def recipe_schema_markdown() -> str:
    """The whole schema: top level, data sources, model, and every stage's config."""
    from . import recipe as r
    from .stages import STAGES

    parts = ["# Recipe schema", "",
             "Generated from the pydantic models by `python -m lstm_deploy.pipeline.schema_doc` "
             "(`tests/pipeline/test_schema_doc.py` fails when this file is stale). Paths in a recipe "
             "are relative to the recipe file. A recipe is YAML:", "",
             "```yaml\nname: NAME\ndata: {kind: npz, path: d.npz}\nmodel: {path: model.keras}   # or train: {...}\n"
             "stages:\n  - prune: {sparsity: 0.5}\n  - export: {quantize: [fp32, dynamic]}\n  - benchmark: {}\n  - report: {}\n```",
             "", "## Top level", "", model_table(r.Recipe), "", "## Data sources (`data:`, chosen by `kind`)", ""]
    for cls in typing.get_args(typing.get_args(r.DataSpec)[0]):
        kind = typing.get_args(cls.model_fields["kind"].annotation)[0]
        summary = _own_doc(cls).split("\n")[0]
        parts += [f"### `kind: {kind}`", "", *([summary, ""] if summary else []), model_table(cls, skip=("kind",)), ""]
    parts += ["## Model (`model:`)", "", "Exactly one of `path` and `train`.", "", model_table(r.ModelSpec), "",
              "### `train:`", "", model_table(r.TrainSpec), "", "### `train.architecture:`", "", model_table(r.Architecture), "",
              "## Stages (`stages:`, in pipeline order)", "",
              "Each stage is written `- NAME: {settings}` (or just `- NAME`); its settings are the same config object "
              "the library and the subcommand's flags build, with the same defaults.", ""]
    for name, spec in STAGES.items():
        parts += [f"### `{name}`", "", model_table(spec.config, skip=("stage",)), ""]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    print(recipe_schema_markdown(), end="")
