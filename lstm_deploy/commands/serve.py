"""``lstm-deploy serve ARTIFACT``: an HTTP service for an exported model (micro-batched, validated, no TensorFlow)."""

from __future__ import annotations

import click

from ..serve.config import ServeConfig
from . import build_config, default

C = ServeConfig


@click.command("serve")
@click.argument("artifact", type=click.Path(path_type=str))  # a folder is refused by serve itself, in one line
@click.option("--host", default=default(C, "host"), show_default=True, help="Address to bind (keep 127.0.0.1 behind a reverse proxy).")
@click.option("--port", type=int, default=default(C, "port"), show_default=True, help="TCP port (0: a free one, printed at start-up).")
@click.option("--max-batch", type=int, default=default(C, "max_batch"), show_default=True,
              help="Most sequences one inference call gathers from concurrent requests (1: no micro-batching).")
@click.option("--max-wait-ms", type=float, default=default(C, "max_wait_ms"), show_default=True,
              help="How long a request waits for others to join its batch.")
@click.option("--workers", type=int, default=default(C, "workers"), show_default=True,
              help="Inference calls running at the same time (TFLite: one interpreter each).")
@click.option("--threads", type=int, default=default(C, "threads"), show_default=True, help="CPU threads per inference call.")
@click.option("--max-request-sequences", type=int, default=default(C, "max_request_sequences"), show_default=True,
              help="Most sequences one request may send.")
def command(artifact: str, host: str, port: int, max_batch: int, max_wait_ms: float, workers: int, threads: int,
            max_request_sequences: int) -> None:
    """Serve ARTIFACT (.tflite / .onnx with its .json manifest) over HTTP until Ctrl-C / SIGTERM.

    \b
    POST /predict  {"x": [...one sequence or a list of them...]} -> {"y": [...], "labels": [...]}
                   several inputs (captioners): {"x": {"image": <one or a list>, "tokens": <as many>}}
    GET  /healthz  liveness and batching counters
    GET  /metadata the input/output contract from the manifest
    Bad input gets a 4xx answer with a one-line reason. Needs: pip install 'lstm-deploy[serve]'.
    \b
    Example:
      lstm-deploy serve out/model.fp32.onnx --port 8000
      curl -s localhost:8000/predict -d '{"x": [[0.1, 0.2, 0.3], [0.0, 0.1, 0.2]]}'
    """
    from ..serve import run

    config = build_config(ServeConfig, host=host, port=port, max_batch=max_batch, max_wait_ms=max_wait_ms, workers=workers,
                          threads=threads, max_request_sequences=max_request_sequences)
    run(artifact, config, announce=lambda line: click.echo(line, err=True))
