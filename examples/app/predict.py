"""A tiny predictor app that embeds an exported model -- no TensorFlow, no lstm-deploy install.

Needs only the ``lstm-deploy-runtime`` distribution (``requirements.txt``): numpy plus
ai-edge-litert for ``.tflite`` (``[litert]``) or onnxruntime for ``.onnx`` (``[onnx]``)::

    pip install -r examples/app/requirements.txt      # from the lstm-deploy checkout: ./runtime[litert,onnx]

(Copying one file into the app is retired: the runtime is a package of small modules now;
install it, or its wheel, instead. See ``docs/runtime.md``.)

Command line (JSON out)::

    python examples/app/predict.py out/model.fp32.tflite inputs.npy

HTTP (stdlib only; a thread per request, all sharing one thread-safe ``Model``)::

    python examples/app/predict.py out/model.fp32.onnx --serve --port 8000
    curl -s localhost:8000/predict -d '{"x": [[[0.1, 0.2, 0.3], ...]]}'

The manifest is validated and the artifact's SHA-256 checked against it before anything runs
(``--no-verify`` skips the SHA-256 check for an artifact edited on purpose).

For production use ``lstm-deploy serve`` (validation, micro-batching, graceful shutdown) behind
a process manager: ``lstm-deploy-serve.service`` here is a systemd unit for it.

The artifact's manifest (``<artifact>.json``) must sit beside it: it tells the runtime
the input names, quantization, masking (post-padded sequences), state handling and the
preprocessing of the training data (z-score statistics, window scaling, tokenizer). Inputs
are raw values (or texts) by default and the runtime applies that preprocessing;
``--prepared`` says they are already prepared like the training data.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from lstm_deploy_runtime import Model, RuntimeError_


def answer(model: Model, x: Any) -> dict[str, Any]:
    """Predictions for a batch of sequences, with class names when the manifest has them."""
    y = model.predict(x)  # checks shape, dtype and values, and says what is wrong
    out: dict[str, Any] = {"y": y.tolist()}
    labels = model.manifest.get("labels")
    if labels and y.ndim == 2 and y.shape[1] == len(labels):
        out["labels"] = [labels[i] for i in y.argmax(axis=1)]
    elif y.ndim == 2 and y.shape[1] > 1:
        out["classes"] = y.argmax(axis=1).tolist()
    return out


def serve(model: Model, port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/predict":
                self._send(404, {"error": "POST /predict with {\"x\": [[...]]}"})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self._send(200, answer(model, body["x"]))
            except (KeyError, ValueError, RuntimeError_) as exc:
                self._send(400, {"error": str(exc)})

        def do_GET(self) -> None:  # a browser or curl without -d: say how to call it (JSON, not an HTML 501 page)
            self._send(405, {"error": "use POST /predict with a JSON body {\"x\": [[...]]}", "model": model.path.name})

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    print(f"serving {model.path.name} on http://127.0.0.1:{port}/predict", file=sys.stderr)
    # One thread per request: safe, because runtime.Model serializes what LiteRT cannot share.
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="exported .tflite or .onnx (with its .json manifest beside it)")
    parser.add_argument("inputs", nargs="?", help=".npy file with a batch of sequences (n, time, features)")
    parser.add_argument("--serve", action="store_true", help="serve POST /predict instead")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--prepared", action="store_true", help="inputs are already preprocessed (skip the manifest's preprocessing)")
    parser.add_argument("--no-verify", action="store_true", help="run an artifact whose SHA-256 differs from its manifest's (edited on purpose)")
    args = parser.parse_args(argv)
    try:
        model = Model.load(args.model, preprocess=not args.prepared, verify=not args.no_verify)
        if args.serve:
            serve(model, args.port)
            return 0
        if not args.inputs:
            parser.error("give an .npy file of inputs, or --serve")
        print(json.dumps(answer(model, np.load(args.inputs))))
    except RuntimeError_ as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
