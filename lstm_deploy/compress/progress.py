"""Progress of a fine-tune: one live line per run, one line per validation check under ``-v``.

:func:`lstm_deploy.compress.fit.finetune` reports to a :class:`Progress`: ``start`` once,
``advance`` after every optimizer step, ``check`` at every validation check (step, val
metric, val loss, plus ``sparsity`` or ``quant_error``), ``end`` once. The library default
is :class:`Silent`; the CLI passes :func:`console_progress`, which draws a rich progress
line (quiet under ``--quiet``, every check printed under ``-v``).

Example:
    >>> p = Silent()
    >>> p.start("prune", 10); p.advance(1); p.end()
"""

from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    """What a fine-tune reports while it runs."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, step: int) -> None: ...

    def check(self, point: dict[str, Any], best: bool) -> None: ...

    def end(self) -> None: ...


class Silent:
    """Reports nothing (the library default)."""

    def start(self, label: str, total: int) -> None:
        return None

    def advance(self, step: int) -> None:
        return None

    def check(self, point: dict[str, Any], best: bool) -> None:
        return None

    def end(self) -> None:
        return None


def describe_point(point: dict[str, Any], metric: str) -> str:
    """``'val accuracy 95.12 % (loss 0.1432), sparsity 80.0 %'`` for one check."""
    from ..metrics import format_metric

    parts = [f"val {metric} {format_metric(metric, point['val_metric'])} (loss {point['val_loss']:.4g})"]
    if "sparsity" in point:
        parts.append(f"sparsity {point['sparsity']:.1%}")
    if "quant_error" in point:
        parts.append(f"quant. error {point['quant_error']:.3g}")
    return ", ".join(parts)


class RichProgress:
    """A rich progress bar per fine-tune; under ``verbose`` every check is also printed as a line."""

    def __init__(self, metric: str, console: Any = None, verbose: bool = False) -> None:
        from rich.console import Console

        self.metric = metric
        self.console = console or Console(stderr=True)
        self.verbose = verbose
        self._bar: Any = None
        self._task: Any = None
        self._label = ""

    def start(self, label: str, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._label = label
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                             TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=self.console, transient=False)
        self._task = self._bar.add_task(label, total=total, status="")
        self._bar.start()

    def advance(self, step: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=step)

    def check(self, point: dict[str, Any], best: bool) -> None:
        text = describe_point(point, self.metric)
        if self._bar is None:
            return
        self._bar.update(self._task, completed=point["step"], status=text)
        if self.verbose:
            self._bar.console.print(f"  {self._label} step {point['step']}: {text}{' *best' if best else ''}")

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def console_progress(metric: str, *, quiet: bool = False, verbose: bool = False) -> Progress:
    """The CLI's progress: nothing under ``quiet``, else a :class:`RichProgress` on stderr."""
    return Silent() if quiet else RichProgress(metric, verbose=verbose)
