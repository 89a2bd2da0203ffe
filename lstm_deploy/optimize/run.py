"""The fixed inputs of one search (``_Run``): built by :mod:`lstm_deploy.optimize.api`, read by
:mod:`lstm_deploy.optimize.report` when it writes the outputs -- kept below both so that neither
imports the other back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..compress.holdout import Holdout
from ..load.dataset import Dataset
from .config import OptimizeConfig
from .space import SearchSpace


@dataclass
class _Run:
    """The fixed inputs of one search, as the later steps need them."""

    config: OptimizeConfig
    out: Path
    loaded: Any
    dataset: Dataset
    data_path: Path | None
    space: SearchSpace
    reference: dict[str, float]
    params: int
    holdout: Holdout
