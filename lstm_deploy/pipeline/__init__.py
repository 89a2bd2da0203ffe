"""Pipeline: recipes (the whole pipeline as data), the stage registry, and the runner.

Example:
    >>> from lstm_deploy.pipeline import load_recipe, run_recipe             # doctest: +SKIP
    >>> run_recipe(load_recipe("recipes/quickstart.yaml"), "runs/quickstart")  # doctest: +SKIP
"""

from __future__ import annotations

from .recipe import Recipe, load_recipe, parse_recipe
from .runner import RunResult, run_recipe
from .stages import STAGES, Stage, StageContext

__all__ = ["STAGES", "Recipe", "RunResult", "Stage", "StageContext", "load_recipe", "parse_recipe", "run_recipe"]
