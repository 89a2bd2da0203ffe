"""The one configuration of ``lstm-deploy serve`` (library and command line build the same object).

Example:
    >>> ServeConfig(max_batch=32).max_wait_ms
    2.0
    >>> ServeConfig(port=70000)
    Traceback (most recent call last):
    ...
    lstm_deploy.errors.InputError: --port: Input should be less than or equal to 65535 (got 70000)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import StageConfig


class ServeConfig(StageConfig):
    """How the HTTP service runs one artifact.

    Attributes:
        host: address to bind; ``127.0.0.1`` keeps the service on this machine (put a reverse
            proxy in front to expose it).
        port: TCP port; 0 picks a free one (printed at start-up).
        max_batch: most sequences one inference call gathers from concurrent requests
            (1 = no micro-batching: every request is its own call).
        max_wait_ms: how long the first request of a batch waits for others to join.
        workers: inference calls that may run at the same time (TFLite: one interpreter each;
            ONNX Runtime: calls on its one thread-safe session).
        threads: CPU threads of each inference call (LiteRT ``num_threads``, ONNX Runtime intra-op).
        max_request_sequences: most sequences one request may send.
        max_queue: most sequences waiting for inference; beyond it requests get 503 + Retry-After.
        max_body_bytes: cap on request bodies (413 beyond). The service's own limit is smaller when the
            artifact's inputs have fixed shapes: what ``max_request_sequences`` samples take as JSON
            (:func:`lstm_deploy.serve.app.body_limit`; ``/metadata`` shows it).
    """

    stage: Literal["serve"] = "serve"
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=0, le=65535)
    max_batch: int = Field(default=32, ge=1, le=4096)
    max_wait_ms: float = Field(default=2.0, ge=0.0, le=1000.0)
    workers: int = Field(default=1, ge=1, le=64)
    threads: int = Field(default=1, ge=1, le=256)
    max_request_sequences: int = Field(default=256, ge=1)
    max_queue: int = Field(default=4096, ge=1)
    max_body_bytes: int = Field(default=16 * 2**20, ge=1024)
