"""docs/recipe_schema.md is generated from the pydantic models: a stale copy fails here."""

from __future__ import annotations

from pathlib import Path

from lstm_deploy.pipeline.schema_doc import recipe_schema_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipe_schema.md"


def test_recipe_schema_doc_is_current():
    text = recipe_schema_markdown()
    assert DOC.read_text(encoding="utf-8") == text, "docs/recipe_schema.md is stale: python -m lstm_deploy.pipeline.schema_doc > docs/recipe_schema.md"
    for heading in ("### `kind: npz`", "### `kind: rotten_tomatoes`", "### `prune`", "### `export`", "### `benchmark`"):
        assert heading in text
    assert "| `fp32_tolerance` | float | `1e-05` |" in text  # a default, straight from ExportConfig
