"""``lstm-deploy serve``: an exported artifact behind HTTP, micro-batched, validated, TensorFlow-free.

``POST /predict`` takes ``{"x": <one sequence or a list of them>}``; an artifact with several
inputs (its manifest lists ``input_names``, e.g. an image captioner) takes one entry per input,
``{"x": {"image": <one sample or a list>, "tokens": <the same number>}}``, and ``GET /metadata``
lists every input under ``inputs``.

Needs the ``serve`` extra (``pip install 'lstm-deploy[serve]'``: Starlette + uvicorn).

Example:
    >>> from lstm_deploy.serve import ServeConfig, create_app, run    # doctest: +SKIP
    >>> run("out/model.fp32.onnx", ServeConfig(port=8000, max_batch=32))   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .config import ServeConfig

__all__ = ["ServeConfig", "create_app", "run"]


def _stack() -> None:
    from ..errors import InputError

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise InputError(f"serve needs the optional HTTP stack ({exc.name} is not installed); install it with: "
                         "pip install 'lstm-deploy[serve]'") from None


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See :func:`lstm_deploy.serve.app.create_app`."""
    _stack()
    from .app import create_app as create

    return create(*args, **kwargs)


def run(*args: Any, **kwargs: Any) -> None:
    """See :func:`lstm_deploy.serve.app.run`."""
    _stack()
    from .app import run as run_app

    run_app(*args, **kwargs)
