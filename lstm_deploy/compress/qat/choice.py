"""Which model ``quantize`` hands over: the QAT model, or the float model when its post-training artifact is better.

QAT can end below post-training quantization (a few steps that hurt, a simulation that misses
what the converter does). The two real artifacts of the target mode are converted and scored
on held-out rows (:func:`held_out_rows`, never training rows); when the post-training artifact
of the float model scores strictly higher, QAT hands back the float model, and ``export`` with
the target's quantization writes exactly that post-training artifact.

Example:
    >>> rows = held_out_rows(dataset)                                   # doctest: +SKIP
    >>> choice = choose_artifact(ptq, qat, dataset, rows, "tflite-int8")  # doctest: +SKIP
    >>> choice.handed_over, choice.reason                                 # doctest: +SKIP
    ('post-training', 'its post-training tflite-int8 artifact scores 95.00 % on the selection half of x_test (20 of 40 rows) ...')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from ... import metrics
from ...load.dataset import Dataset, X, rows, take
from .config import TARGETS

#: Rows the choice is judged on: indices into x_test, or ``(x, y)`` arrays (e.g. x_val, y_val).
Rows = Any


@dataclass(frozen=True)
class HeldOut:
    """Rows to judge on, and how they were chosen (printed in the report)."""

    x: X
    y: np.ndarray
    source: str


def held_out_rows(dataset: Dataset, seed: int = 0) -> Rows:
    """The rows that judge QAT against post-training: the project's one selection rule (:func:`lstm_deploy.compress.holdout.choose`).

    ``(x_val, y_val)`` when the data has them, else the selection half of x_test (its indices);
    the other half stays for confirmation, and no training row ever judges.
    """
    from ..holdout import choose

    split = choose(dataset, seed)
    if split.select_rows is None:
        return HeldOut(split.x_select, split.y_select, "x_val")
    return np.asarray(split.select_rows)


def resolve_rows(dataset: Dataset, selected: Rows) -> HeldOut:
    """``selected`` (x_test indices, ``(x, y)`` or a :class:`HeldOut`) as a :class:`HeldOut`."""
    if isinstance(selected, HeldOut):
        return selected
    if isinstance(selected, tuple) and len(selected) == 2:
        return HeldOut(selected[0], np.asarray(selected[1]), "given rows")
    index = np.asarray(selected)
    n = rows(dataset.x_test)
    return HeldOut(take(dataset.x_test, index), dataset.y_test[index], f"the selection half of x_test ({len(index)} of {n} rows)")


@dataclass(frozen=True)
class Choice:
    """The model handed over (``"qat"`` or ``"post-training"``: the float model), why, and the numbers behind it."""

    handed_over: Literal["qat", "post-training"]
    mode: str
    rows: str
    n_rows: int
    ptq_metric: float
    qat_metric: float
    reason: str
    export_command: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_command(mode: str) -> str:
    """The ``lstm-deploy export`` flags that write ``mode``'s artifact."""
    fmt, quant = TARGETS[mode]
    return f"lstm-deploy export MODEL --format {fmt} --quantize {quant}"


def choose_artifact(ptq: Any, qat: Any, dataset: Dataset, selected: Rows, mode: str) -> Choice:
    """Score the converted post-training (``ptq``) and QAT (``qat``) artifacts on ``selected`` rows and pick one.

    The post-training artifact wins only when it scores strictly better (a tie keeps QAT, which
    the user asked for). Artifacts run through :class:`lstm_deploy.runtime.Model`.
    """
    from ...export import load_artifact
    from ...metrics import format_metric

    held = resolve_rows(dataset, selected)
    task, name = dataset.task, metrics.primary_metric(dataset.task)
    p, q = (round(metrics.score(held.y, load_artifact(a).predict(held.x), task), 6) for a in (ptq, qat))
    m = lambda v: format_metric(name, v)  # noqa: E731
    where = held.source if held.source.endswith(" rows)") else f"{held.source} ({rows(held.x)} rows)"  # the half says its rows
    if metrics.better(p, q, task):
        handed, reason = "post-training", (
            f"handed over the float model, not the QAT model: its post-training {mode} artifact scores {m(p)} on {where}, "
            f"QAT's {m(q)}; `{export_command(mode)}` writes that post-training artifact")
    else:
        handed, reason = "qat", f"handed over the QAT model: its {mode} artifact scores {m(q)} on {where}, post-training {m(p)}"
    return Choice(handed, mode, held.source, rows(held.x), p, q, reason, export_command(mode))
