"""The data contract shared by every command: one ``.npz`` file.

Required arrays: ``x_train``, ``y_train``, ``x_test``, ``y_test``; optional
``x_val``, ``y_val``. Files are opened with ``allow_pickle=False``: an ``.npz``
never runs code. Classification labels are integers (or one-hot rows); anything
else is treated as regression targets.

Example:
    >>> ds = load_data("data.npz")                       # doctest: +SKIP
    >>> ds.task, ds.x_train.shape                        # doctest: +SKIP
    ('classification', (512, 50, 3))
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ..errors import DataError

Task = Literal["classification", "regression"]
REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_val", "y_val")


@dataclass(frozen=True)
class Dataset:
    """Validated arrays plus what kind of problem they describe."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    task: Task = "classification"
    source: str = "<memory>"

    @property
    def has_val(self) -> bool:
        return self.x_val is not None

    def labels(self, y: np.ndarray) -> np.ndarray:
        """Class indices for classification targets (one-hot rows become argmax)."""
        if self.task != "classification":
            raise DataError(f"{self.source}: labels() only applies to classification data")
        return y.argmax(axis=-1) if _is_one_hot(y) else y.astype(np.int64)

    def train_val_split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(x_train, y_train, x_val, y_val)``; split train when no val set was given."""
        if self.has_val:
            return self.x_train, self.y_train, self.x_val, self.y_val  # type: ignore[return-value]
        n = len(self.x_train)
        n_val = max(1, int(round(n * val_fraction))) if n > 1 else 0
        order = np.random.default_rng(seed).permutation(n)
        val, train = order[:n_val], order[n_val:]
        if n_val == 0:
            return self.x_train, self.y_train, self.x_train, self.y_train
        return self.x_train[train], self.y_train[train], self.x_train[val], self.y_train[val]


def _is_one_hot(y: np.ndarray) -> bool:
    if y.ndim != 2 or y.shape[1] < 2 or not np.issubdtype(y.dtype, np.floating):
        return False
    return bool(np.isin(y, (0.0, 1.0)).all() and np.allclose(y.sum(axis=1), 1.0))


def infer_task(y: np.ndarray) -> Task:
    """Integer/bool labels or one-hot rows mean classification; anything else regression."""
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_ or _is_one_hot(y):
        return "classification"
    return "regression"


def load_data(path: str | Path, model_input_shape: Sequence[int | None] | None = None, task: Task | None = None) -> Dataset:
    """Load and validate an ``.npz`` data file.

    Args:
        path: the ``.npz`` file.
        model_input_shape: the model's input shape without batch (``None`` for dynamic
            dims); when given, every ``x_*`` array must match it.
        task: force ``classification`` or ``regression`` instead of inferring it.

    Raises:
        DataError: missing file or keys, pickled objects, empty/NaN/inf arrays,
            mismatched lengths or shapes. The message names the file and the array.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist; expected an .npz with {', '.join(REQUIRED)}")
    if path.is_dir():
        raise DataError(f"data file {path} is a directory; expected an .npz file")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive); write one with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise DataError(f"{path}: contains pickled Python objects; save plain numeric arrays (np.savez) instead") from None
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc.__class__.__name__}: {exc})") from None
    return validate_arrays(arrays, source=str(path), model_input_shape=model_input_shape, task=task)


def validate_arrays(
    arrays: dict[str, np.ndarray],
    source: str = "<memory>",
    model_input_shape: Sequence[int | None] | None = None,
    task: Task | None = None,
) -> Dataset:
    """Validate a dict of arrays against the contract; see :func:`load_data`."""
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise DataError(f"{source}: missing array(s) {', '.join(missing)}; found {', '.join(sorted(arrays)) or 'none'}")
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DataError(f"{source}: x_val and y_val must be given together")
    keys = [k for k in REQUIRED + OPTIONAL if k in arrays]
    for key in keys:
        arr = arrays[key]
        if arr.dtype == object:
            raise DataError(f"{source}: {key} holds Python objects; expected a numeric array")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise DataError(f"{source}: {key} has dtype {arr.dtype}; expected a numeric array")
        if arr.size == 0 or arr.ndim == 0:
            raise DataError(f"{source}: {key} is empty (shape {arr.shape}); expected at least one sample")
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise DataError(f"{source}: {key} contains {bad} NaN/inf value(s); clean or impute them first")
    for split in ("train", "test", "val"):
        if f"x_{split}" in arrays and len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DataError(
                f"{source}: x_{split} has {len(arrays[f'x_{split}'])} samples but y_{split} has {len(arrays[f'y_{split}'])}"
            )
    if model_input_shape is not None:
        expected = tuple(model_input_shape)
        for key in (k for k in keys if k.startswith("x_")):
            got = arrays[key].shape[1:]
            if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
                shown = "(" + ", ".join("None" if e is None else str(e) for e in expected) + ")"
                raise DataError(f"{source}: {key} has sample shape {got}; the model expects {shown}")
    x = {k: np.asarray(arrays[k]) for k in keys}
    for key in [k for k in keys if k.startswith("x_")]:
        if np.issubdtype(x[key].dtype, np.floating) and x[key].dtype != np.float32:
            x[key] = x[key].astype(np.float32)
    inferred = task or infer_task(x["y_train"])
    if inferred == "regression" and not np.issubdtype(x["y_train"].dtype, np.floating):
        raise DataError(f"{source}: regression targets must be floats, got {x['y_train'].dtype}")
    for key in [k for k in keys if k.startswith("y_")]:
        if inferred == "regression":
            x[key] = x[key].astype(np.float32)
    return Dataset(
        x_train=x["x_train"], y_train=x["y_train"], x_test=x["x_test"], y_test=x["y_test"],
        x_val=x.get("x_val"), y_val=x.get("y_val"), task=inferred, source=source,
    )
