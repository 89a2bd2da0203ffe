"""Streaming inference: feed a sequence one time step at a time (keyword spotting, sensors).

A streaming artifact runs one step per call with explicit h/c state inputs and outputs.
``--streaming`` writes only the single-step files, so export twice to compare with the
full-sequence artifact::

    lstm-deploy export model.keras -o out/                # out/model.fp32.{tflite,onnx}: whole sequences
    lstm-deploy export model.keras --streaming -o out/    # out/model.fp32.stream.{tflite,onnx}: one step per call
    python examples/streaming.py out/model.fp32.stream.tflite --full out/model.fp32.tflite

(With the examples' model: ``example_out/qat.keras`` after ``examples/03_quantize.py``.)
Each ``stream.step(x_t)`` returns the model output after that step; ``stream.reset()``
starts a new sequence. With ``--full``, the last step is compared with the full-sequence
artifact on the same sequence (they agree to ~1e-7). Needs no TensorFlow.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from lstm_deploy.runtime import Model, RuntimeError_


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="step through sequences with a --streaming artifact")
    parser.add_argument("model", help="a *.stream.tflite / *.stream.onnx artifact")
    parser.add_argument("--full", help="optional full-sequence artifact of the same model, to compare with")
    parser.add_argument("--sequences", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        model = Model.load(args.model)
        full = Model.load(args.full) if args.full else None
    except RuntimeError_ as exc:  # a missing file or manifest: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not model.streaming:
        print(f"error: {args.model} is a full-sequence artifact; export with --streaming and pass the *.stream.* file "
              "(the full one goes after --full)", file=sys.stderr)
        return 2
    length = model.manifest["streaming"]["sequence_length"]
    features = model.inputs[model.input_name].shape[1:]
    rng = np.random.default_rng(args.seed)
    stream = model.stream()
    worst = 0.0
    for i in range(args.sequences):
        sequence = rng.standard_normal((length, *features)).astype(np.float32)  # stand-in for a sensor feed
        stream.reset()  # new, independent sequence
        for t, x_t in enumerate(sequence):
            y_t = stream.step(x_t)
        print(f"sequence {i}: output after {t + 1} steps = [{', '.join(f'{v:.4f}' for v in np.ravel(y_t))}]")
        if full is not None:
            y_full = full.predict(sequence[None])[0]
            y_full = y_full[-1] if y_full.ndim == y_t.ndim + 1 else y_full
            worst = max(worst, float(np.abs(y_full - y_t).max()))
    if full is not None:
        print(f"max |streamed - full sequence| = {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
