"""A recipe's ``data:`` block -> :class:`~lstm_deploy.load.sources.PreparedData` (the data step's work).

Example:
    >>> prepared = prepare_data(recipe.data, Path("recipes"), seed=0)   # doctest: +SKIP
    >>> prepared.description                                          # doctest: +SKIP
    'BasicMotions (UCR/UEA): 40 train / 40 test recordings ...'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..load.sources import PreparedData
from .recipe import (AeonClassificationData, AeonSeriesData, CsvSeriesData, GeneratedTextData, ImageCaptionsData, NpzData,
                     RottenTomatoesData, TextCsvData)

#: Data sources read from a file the recipe names (hashed by content, checked before a run).
FILE_SOURCES = (NpzData, CsvSeriesData, TextCsvData, ImageCaptionsData)


def resolve(recipe_dir: Path, value: str) -> Path:
    """Paths in a recipe are relative to the recipe file."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (recipe_dir / p)


def prepare_data(data: Any, recipe_dir: Path, seed: int) -> PreparedData:
    """Load and prepare every data source but ``npz`` (which is copied as it is)."""
    from ..load import sources as datasets

    if isinstance(data, AeonClassificationData):
        return datasets.aeon_classification(data.name, data.max_len)
    if isinstance(data, AeonSeriesData):
        values = datasets.aeon_series(data.name, data.column)
        return datasets.series_windows(values, data.window, data.horizon, data.normalize, data.test_fraction, source=f"aeon:{data.name}")
    if isinstance(data, CsvSeriesData):
        values = datasets.read_csv_column(resolve(recipe_dir, data.path), data.column)
        return datasets.series_windows(values, data.window, data.horizon, data.normalize, data.test_fraction, source=data.path)
    if isinstance(data, TextCsvData):
        return datasets.text_csv(resolve(recipe_dir, data.path), data.text_column, data.label_column,
                                 vocab_size=data.vocab_size, max_len=data.max_len, test_fraction=data.test_fraction, seed=seed)
    if isinstance(data, GeneratedTextData):
        texts, labels = datasets.generated_sentiment(data.samples, seed=seed)
        return datasets.text_classification(texts, labels, data.vocab_size, data.max_len, data.test_fraction, seed,
                                            source="GENERATED sentiment corpus (synthetic, not real reviews)")
    if isinstance(data, RottenTomatoesData):
        return datasets.rotten_tomatoes(data.vocab_size, data.max_len, data.test_fraction, seed)
    if isinstance(data, ImageCaptionsData):
        from ..load.captions import image_captions

        return image_captions(resolve(recipe_dir, data.path), captions_key=data.captions_key, min_count=data.min_count,
                              max_words=data.max_words, test_fraction=data.test_fraction, seed=seed)
    raise InputError(f"data.kind {data.kind!r} is not handled")  # pragma: no cover - the schema's union is exhaustive
