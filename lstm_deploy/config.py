"""The one schema a pipeline stage has: a frozen pydantic model shared by the library, the CLI and recipes.

A stage's config class (``PruneConfig``, ``QatConfig``, ``ExportConfig``, ``BenchConfig``,
...) is what the library function takes, what a command builds from its flags and what a
recipe's ``stages:`` entry is validated into -- so defaults and checks exist once.
Building one with bad values raises :class:`~lstm_deploy.errors.InputError` whose message
names the option as a user typed it (``--sparsity``); recipes report the YAML location
instead (see :mod:`lstm_deploy.pipeline.recipe`).

Example:
    >>> from lstm_deploy.compress.prune import PruneConfig
    >>> PruneConfig(sparsity=0.8).method
    'magnitude'
    >>> PruneConfig(sparsity=1.5)
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --sparsity: Input should be less than 1 (got 1.5)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import InputError, brief


def option_name(loc: tuple[str | int, ...]) -> str:
    """The command-line spelling of a config field: ``("max_metric_drop",)`` -> ``--max-metric-drop``."""
    return "--" + str(loc[0]).replace("_", "-") if loc else "config"


def describe_errors(exc: ValidationError, where: Any = option_name, limit: int = 5) -> str:
    """One message per problem field (at most ``limit``): the location as ``where`` spells it, the message, the value."""
    parts: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith(("function-", "tagged-union")))
        msg = err["msg"].removeprefix("Value error, ")[:300]  # user text (keys, values) is always cut short
        got = err.get("input")
        shown = "" if err["type"] in ("missing", "value_error") or isinstance(got, (dict, list, tuple)) else f" (got {brief(got)})"
        field = tuple(p for p in loc if not isinstance(p, int))
        parts.setdefault(str(field), f"{where(loc)[:120]}: {msg}{shown}" if loc else msg)  # the first problem of each field
    shown = list(parts.values())
    more = len(shown) - limit
    return "; ".join(shown[:limit]) + (f"; and {more} more" if more > 0 else "")


class StageConfig(BaseModel):
    """Base class of every stage config: frozen, unknown keys refused, errors as :class:`InputError`.

    Subclasses declare ``stage: Literal["<name>"] = "<name>"``: the stage's name in recipes
    (``{prune: {...}}``) and in the stage registry.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InputError(describe_errors(exc)) from None

    # Direct construction (library, CLI) goes through __init__ above; pydantic's own validation
    # of a recipe must not, so that recipe errors keep their YAML location. This marker is how
    # pydantic tells a base __init__ from a custom one (tests/pipeline/test_recipe.py pins it).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def replace(self, **changes: Any) -> "StageConfig":
        """A validated copy with ``changes`` applied."""
        return type(self)(**{**self.model_dump(), **changes})
