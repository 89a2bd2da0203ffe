"""Load: model files of either Keras flavour, the flavour bridge, the layer registry, model summaries, data.

Example:
    >>> from lstm_deploy.load import load_model, load_data, inspect_model   # doctest: +SKIP
    >>> loaded = load_model("model.keras")                                   # doctest: +SKIP
    >>> inspect_model(loaded.model).params                                   # doctest: +SKIP
"""

from __future__ import annotations

from .dataset import Dataset, load_data, validate_arrays
from .modelio import LoadedModel, file_sha256, load_model, save_model
from .summary import ModelReport, inspect_model

__all__ = ["Dataset", "LoadedModel", "ModelReport", "file_sha256", "inspect_model", "load_data", "load_model", "save_model", "validate_arrays"]
