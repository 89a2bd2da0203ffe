"""The ASGI application behind ``lstm-deploy serve`` (Starlette; run by uvicorn or any ASGI server).

Endpoints: ``POST /predict`` (``{"x": [...]}`` -> ``{"y": [...]}`` plus class names; an
artifact with several inputs, e.g. a captioner, takes ``{"x": {"image": ..., "tokens": ...}}``:
one sample of every input, or lists of the same length), ``GET /healthz`` and ``GET /metadata``
(every input under ``inputs``; for several inputs ``input`` holds their names, the body and the
batching rule instead of one shape). Requests are validated against the manifest
(:mod:`lstm_deploy.serve.contract`) and micro-batched (:mod:`lstm_deploy.serve.batching`).
Nothing here imports TensorFlow: the model runs through :mod:`lstm_deploy.runtime`.

Example:
    >>> app = create_app("out/model.fp32.onnx", ServeConfig(max_batch=16))   # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..errors import InputError
from ..runtime import Model, RuntimeError_
from .batching import MicroBatcher, Overloaded, describe
from .config import ServeConfig
from .contract import RequestError, answer, input_names, metadata, parse_body, to_request

log = logging.getLogger("lstm_deploy.serve")


#: Bytes one JSON number may take in a request body: a float written in full ("-1.2345678901234567e-308"),
#: its separator and pretty-printing indentation. Times the values of the largest request, plus
#: :data:`BODY_SLACK`, this is the body limit of an artifact with fixed input shapes.
BYTES_PER_VALUE = 48
BODY_SLACK = 64 * 1024


def body_limit(model: Model, config: ServeConfig) -> int:
    """The largest request body worth reading for ``model``: what ``max_request_sequences`` full samples take as JSON.

    Capped by ``config.max_body_bytes``, which alone applies when an input has a dynamic length
    (no sample size to derive a bound from). A body past the limit is refused (413) while it is
    read, before any of it is parsed, so memory stays bounded by the model's input size.

    Example:
        >>> body_limit(model, ServeConfig())      # (6, 3) sequences: 256 * 18 * 48 + 64 KiB   # doctest: +SKIP
        286720
    """
    values = 0
    for name in input_names(model):
        shape = tuple(model.inputs[name].shape[1:])
        if any(d is None for d in shape):
            return config.max_body_bytes
        values += math.prod(shape)  # type: ignore[arg-type]
    return min(config.max_body_bytes, config.max_request_sequences * values * BYTES_PER_VALUE + BODY_SLACK)


def load_model(artifact: str | Path, config: ServeConfig) -> Model:
    """Load and warm up the artifact to serve; refuse what the service cannot serve, in one line."""
    from .. import _tf  # only its stderr helper: LiteRT announces its CPU delegate there when an interpreter starts

    if Path(artifact).is_dir():
        raise InputError(f"ARTIFACT {artifact}: is a folder; give the .tflite or .onnx file in it (its .json manifest lies beside it), "
                         "e.g. out/model.fp32.onnx")
    try:
        with _tf.silenced_stderr():
            model = Model.load(artifact, num_threads=config.threads, concurrency=config.workers, preprocess=False)  # clients send prepared inputs (contract)
    except RuntimeError_ as exc:
        raise InputError(f"ARTIFACT {artifact}: {exc}") from None
    if model.streaming:
        raise InputError(f"ARTIFACT {artifact}: a streaming (single-step) artifact; serve runs full-sequence artifacts -- "
                         "serve the same model exported without --streaming")
    return model


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"body has {declared} bytes; at most {limit} per request")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f"body exceeds {limit} bytes; send fewer sequences per request")
    return bytes(body)


def create_app(artifact: str | Path | Model, config: ServeConfig | None = None) -> Starlette:
    """An ASGI app serving ``artifact`` (a path, or a loaded :class:`~lstm_deploy.runtime.Model`)."""
    config = config or ServeConfig()
    model = artifact if isinstance(artifact, Model) else load_model(artifact, config)
    batcher = MicroBatcher(model.predict, max_batch=config.max_batch, max_wait_ms=config.max_wait_ms,
                           workers=config.workers, max_queue=config.max_queue)
    limit = body_limit(model, config)
    settings = {"max_batch": config.max_batch, "max_wait_ms": config.max_wait_ms, "workers": config.workers,
                "threads": config.threads, "max_request_sequences": config.max_request_sequences, "max_body_bytes": limit}

    def checked(body: bytes) -> tuple[Any, bool]:
        return to_request(model, parse_body(body)["x"], config.max_request_sequences)

    async def predict(request: Request) -> JSONResponse:
        from anyio import to_thread

        try:
            body = await _read_body(request, limit)
            x, single = await to_thread.run_sync(checked, body)  # parsing and checks off the event loop: other requests go on
            y = await batcher.submit(x)
        except RequestError as exc:
            return _error(exc.status, exc.message)
        except Overloaded as exc:
            return _error(503, f"busy: {exc}; retry shortly", {"Retry-After": "1"})
        except RuntimeError_ as exc:  # the runtime's own input checks (e.g. pre-padding for a lengths-input artifact)
            return _error(422, str(exc))
        return JSONResponse(answer(model, y, single))

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "artifact": model.path.name, "format": model.format, **describe(batcher)})

    async def meta(request: Request) -> JSONResponse:
        return JSONResponse(metadata(model, settings))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status, detail = getattr(exc, "status_code", 404), getattr(exc, "detail", "")  # registered for HTTPException only
        hint = "; endpoints: POST /predict, GET /healthz, GET /metadata"
        return _error(status, f"{request.method} {request.url.path}: {detail}{hint}", dict(getattr(exc, "headers", None) or {}))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/healthz", healthz, methods=["GET"]),
                            Route("/metadata", meta, methods=["GET"])],
                    exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.state.model, app.state.batcher, app.state.settings = model, batcher, settings
    return app


def run(artifact: str | Path, config: ServeConfig | None = None, *, announce: Any = print) -> None:
    """Serve ``artifact`` with uvicorn until SIGINT/SIGTERM (in-flight requests finish first).

    ``announce`` receives one line with the bound address (useful with ``port=0``).
    """
    import socket

    import uvicorn

    config = config or ServeConfig()
    app = create_app(artifact, config)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
        sock.listen(2048)  # with SO_REUSEADDR a busy port may only fail here
    except OSError as exc:
        sock.close()
        raise InputError(f"--host {config.host} --port {config.port}: cannot listen there ({exc.strerror}); pick another port") from None
    host, port = sock.getsockname()[:2]
    model = app.state.model
    announce(f"serving {model.path.name} ({model.format}) on http://{host}:{port} -- POST /predict, GET /healthz, GET /metadata; "
             f"micro-batching up to {config.max_batch} sequences / {config.max_wait_ms:g} ms")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=10))
    stopped: list[int] = []
    # uvicorn drains the requests in flight on SIGTERM, then raises the signal again to die of it (exit 143). A graceful
    # stop is a success: this handler is the one uvicorn restores and re-raises into, so the command ends with exit 0.
    # SIGINT (Ctrl-C) keeps its meaning: KeyboardInterrupt, exit 130.
    main = threading.current_thread() is threading.main_thread()  # signal handlers belong to the main thread (so does uvicorn's)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum)) if main else None
    try:
        server.run(sockets=[sock])
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    if stopped:
        announce("stopped (SIGTERM): the requests in flight were answered")
