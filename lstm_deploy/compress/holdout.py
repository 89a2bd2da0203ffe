"""Which rows judge a compression: never rows the source model was trained on.

A model scores (nearly) perfectly on the rows it was fitted on, so a validation split carved
out of ``x_train`` cannot tell a good compression from a bad one. The one rule, shared by
``prune`` (early stopping, "did not recover"), ``quantize`` (the QAT check kept) and
``optimize`` (every trial, the finalists):

* the user gave ``x_val``: it **selects**, and all of ``x_test`` **confirms**;
* otherwise ``x_test`` is split once, seeded, into a **selection** half and a **confirmation**
  half (stratified by class for classification: each class's rows are shuffled and dealt
  alternately to the two halves). Fine-tuning still trains on all of ``x_train``.

The halves are disjoint, so a decision made on the selection rows is checked on rows that
played no part in it. :meth:`Holdout.resolution_note` says when the confirmation rows are too
few to resolve a budget (one row is worth more than it). See ``docs/selection.md``.

Example:
    >>> import numpy as np
    >>> from lstm_deploy.load.dataset import Dataset
    >>> ds = Dataset(np.zeros((8, 3, 1)), np.zeros(8), np.zeros((6, 3, 1)), np.array([0, 0, 0, 1, 1, 1]))
    >>> h = choose(ds, seed=0)
    >>> h.scheme, len(h.select_rows), len(h.confirm_rows), sorted(h.select_rows + h.confirm_rows)
    ('x_test halves', 3, 3, [0, 1, 2, 3, 4, 5])
    >>> h.resolution_note("classification", 0.01)[:34]
    'the 3 confirmation rows of x_test '
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..load.dataset import Dataset, X, rows, take

#: The two schemes; ``x_test (unsplit)`` only when x_test has a single row.
SCHEMES = ("x_val", "x_test halves", "x_test (unsplit)")


@dataclass(frozen=True, eq=False)
class Holdout:
    """The rows that fit, select and confirm (``*_rows`` index ``x_test``; ``select_rows`` is ``None`` when ``x_val`` selects)."""

    scheme: str
    x_train: X
    y_train: np.ndarray
    x_select: X
    y_select: np.ndarray
    x_confirm: X
    y_confirm: np.ndarray
    select_rows: tuple[int, ...] | None
    confirm_rows: tuple[int, ...]

    @property
    def n_select(self) -> int:
        return rows(self.x_select)

    @property
    def n_confirm(self) -> int:
        return rows(self.x_confirm)

    def fit_arrays(self) -> tuple[X, np.ndarray, X, np.ndarray]:
        """``(x_train, y_train, x_val, y_val)`` for a fine-tune: all training rows, the selection rows as validation."""
        return self.x_train, self.y_train, self.x_select, self.y_select

    def search_dataset(self, dataset: Dataset) -> Dataset:
        """``dataset`` as a search sees it: all of train, the selection rows in both ``x_val`` and ``x_test``."""
        return Dataset(x_train=self.x_train, y_train=self.y_train, x_val=self.x_select, y_val=self.y_select, x_test=self.x_select,
                       y_test=self.y_select, task=dataset.task, source=f"{dataset.source} (selection rows as x_test)")

    def confirm_dataset(self, dataset: Dataset) -> Dataset:
        """``dataset`` with only the confirmation rows in ``x_test``."""
        return Dataset(x_train=self.x_train, y_train=self.y_train, x_test=self.x_confirm, y_test=self.y_confirm, task=dataset.task,
                       source=f"{dataset.source} (confirmation rows of x_test)")

    def one_row(self, task: str, which: str = "confirm") -> float | None:
        """What one row changes in accuracy on the selection or confirmation rows (``None`` for regression)."""
        n = self.n_confirm if which == "confirm" else self.n_select
        return 1.0 / max(n, 1) if task == "classification" else None

    def resolution_note(self, task: str, max_drop: float) -> str | None:
        """One line when one selection or confirmation row is worth more than ``max_drop``, saying what would resolve it."""
        if task != "classification":
            return None
        worst = max(self.one_row(task, "confirm") or 0.0, self.one_row(task, "select") or 0.0)
        if worst <= max_drop + 1e-12:
            return None
        n_small = min(self.n_select, self.n_confirm)
        need = math.ceil(1.0 / max_drop) if max_drop > 0 else None
        src = "x_val" if self.select_rows is None else "x_test"
        fix = (f"give an x_val of at least {need} rows (then all of x_test confirms) or at least {2 * need} x_test rows"
               if need else "a budget of 0 keeps only candidates that lose no row")
        return (f"the {self.n_confirm} confirmation rows of x_test and {self.n_select} selection rows of {src} cannot resolve a budget "
                f"of {max_drop * 100:.2f} points (one row of the smaller set, {n_small}, is {worst * 100:.2f} points): a candidate "
                f"passes only if it loses no net row there; to resolve it, {fix}, or raise --max-metric-drop to {worst:.4f}")

    def describe(self) -> dict[str, Any]:
        """For report.json: which rows selected and which confirmed."""
        return {"scheme": self.scheme,
                "selection": {"source": "x_val" if self.select_rows is None else "x_test", "rows": self.n_select,
                              "indices": None if self.select_rows is None else list(self.select_rows)},
                "confirmation": {"source": "x_test", "rows": self.n_confirm, "indices": list(self.confirm_rows)},
                "training_rows_used_for_decisions": 0}

    def summary(self) -> str:
        """One line for reports and notes."""
        if self.select_rows is None:
            return f"selected on x_val ({self.n_select} rows), confirmed on all {self.n_confirm} rows of x_test"
        if self.scheme == "x_test (unsplit)":
            return f"x_test has {self.n_confirm} row: it both selects and confirms (add rows to x_test or give x_val)"
        return (f"selected on {self.n_select} rows of x_test, confirmed on the other {self.n_confirm} "
                "(seeded split of x_test; the model never trained on either)")


def _deal(labels: np.ndarray | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle (within each class when ``labels`` is given) and deal rows alternately: (selection, confirmation) indices."""
    rng = np.random.default_rng(seed)
    if labels is None or labels.ndim != 1 or len(labels) != n:
        order = rng.permutation(n)
    else:
        order = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)])
    return np.sort(order[0::2]), np.sort(order[1::2])


def choose(dataset: Dataset, seed: int = 0) -> Holdout:
    """The selection and confirmation rows of ``dataset`` (see the module docstring)."""
    n_test = rows(dataset.x_test)
    all_rows = tuple(range(n_test))
    if dataset.has_val:
        return Holdout("x_val", dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val, dataset.x_test,  # type: ignore[arg-type]
                       dataset.y_test, None, all_rows)
    if n_test < 2:
        return Holdout("x_test (unsplit)", dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test, dataset.x_test,
                       dataset.y_test, all_rows, all_rows)
    labels = None
    if dataset.task == "classification":
        try:
            labels = np.asarray(dataset.labels(dataset.y_test))
        except Exception:  # noqa: BLE001 - targets without one class per row (sequence labels): plain shuffle
            labels = None
    sel, conf = _deal(labels, n_test, seed)
    return Holdout("x_test halves", dataset.x_train, dataset.y_train, take(dataset.x_test, sel), dataset.y_test[sel],
                   take(dataset.x_test, conf), dataset.y_test[conf], tuple(int(i) for i in sel), tuple(int(i) for i in conf))
