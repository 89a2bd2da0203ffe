"""Exceptions raised by the library.

Every user-facing failure is a :class:`LstmDeployError`. The CLI turns it into one
line on stderr and an exit code: 2 for bad usage or input (:class:`InputError`),
1 for a failure of the work itself (everything else).

Example:
    >>> raise InputError("--sparsity: expected a number in [0, 1), got 1.5")
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --sparsity: expected a number in [0, 1), got 1.5
"""

from __future__ import annotations

from typing import Any


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message never quotes an unbounded value.

    Example:
        >>> brief("x" * 100, limit=10)
        "'xxxxxx..."
    """
    text = _short_repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_repr(value: Any) -> str:
    """A ``repr`` that abbreviates big containers (no full walk of a huge or recursive structure)."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlevel = 80, 80, 3
    return short.repr(value)


class LstmDeployError(Exception):
    """Base class: a failure we can explain in one line."""

    exit_code = 1


class InputError(LstmDeployError):
    """The user gave something we cannot use (file, option, data, model)."""

    exit_code = 2


class ModelLoadError(InputError):
    """A model file is missing, corrupt, not a Keras model, or unsafe to load."""


class UnsupportedLayerError(InputError):
    """The model contains a layer a stage cannot handle."""


class DataError(InputError):
    """A data file is malformed or does not match the model."""


class BridgeError(LstmDeployError):
    """Rebuilding a model in the other Keras flavour did not reproduce its outputs."""


class ExportError(LstmDeployError):
    """An export route failed (converter error, unexpected ops)."""


class ParityError(LstmDeployError):
    """An artifact does not reproduce its source model within tolerance."""


class StageError(LstmDeployError):
    """A compression stage (prune, quantize) could not reach its goal."""
