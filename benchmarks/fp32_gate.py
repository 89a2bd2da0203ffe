"""How far correct fused fp32 kernels drift from Keras, and how far real faults do: the fp32 gate's default.

Every fp32 artifact ``lstm-deploy export`` writes must stay within ``ExportConfig.fp32_tolerance``
on :func:`lstm_deploy.metrics.rel_error` (relative L2 error over all outputs). This script
measures that error for *correct* conversions over a spread of models (random and briefly
trained; the stacked LSTM(24)->LSTM(16)->Dense(3) of issue 17, a wide 2x LSTM(128/64), a
Bidirectional LSTM, a regression head), sequence lengths (10, 50, 200) and input scales
(N(0, s) for s = 0.1, 1, 10, 100: normalized, raw-ish and saturating), for TFLite
(LiteRT, XNNPACK) and ONNX (ONNX Runtime). Then it measures the same error for real
faults: LSTM state carried across ``invoke`` (a raw LiteRT interpreter, no reset), wrong
masking (a ``--lengths-input`` artifact told every sequence is full length), and a wrong
weight (the largest recurrent weight of the first LSTM zeroed before conversion). The
default must sit well above the first group and well below the second.

Run:  .venv/bin/python benchmarks/fp32_gate.py [--quick]     (about 4 min on 2 cores; --quick ~1 min)
Writes benchmarks/results/fp32_gate.json and prints both tables and the verdict.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lstm_deploy import _tf, metrics  # noqa: E402
from lstm_deploy.atomic import atomic_write_text  # noqa: E402

F = 8  # features
N = 48  # sequences per cell


def _arch(name: str) -> Callable[[Any], Any]:
    """A builder for ``name``; variable-length input so one model covers every length."""
    def issue(k: Any) -> Any:
        L = k.layers
        return k.Sequential([k.Input((None, F)), L.LSTM(24, return_sequences=True), L.LSTM(16), L.Dense(3, activation="softmax")])

    def wide(k: Any) -> Any:
        L = k.layers
        return k.Sequential([k.Input((None, F)), L.LSTM(128, return_sequences=True), L.LSTM(64), L.Dense(5, activation="softmax")])

    def bidir(k: Any) -> Any:
        L = k.layers
        return k.Sequential([k.Input((None, F)), L.Bidirectional(L.LSTM(32)), L.Dense(3, activation="softmax")])

    def regression(k: Any) -> Any:
        L = k.layers
        return k.Sequential([k.Input((None, F)), L.LSTM(32), L.Dense(1)])

    return {"issue17": issue, "wide": wide, "bidir": bidir, "regression": regression}[name]


def build(name: str, trained: bool, seed: int = 0) -> Any:
    """A tf_keras model, seeded; ``trained``: 3 epochs on a synthetic task of N(0, 1) inputs, length 20."""
    k = _tf.tf_keras()
    _tf.tf().random.set_seed(seed)
    model = _arch(name)(k)
    if trained:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((384, 20, F)).astype(np.float32)
        score = x.mean(1) @ rng.standard_normal(F)
        units = model.outputs[0].shape[-1]
        if units == 1:
            model.compile("adam", "mse")
            y = score[:, None].astype(np.float32)
        else:
            model.compile("adam", "sparse_categorical_crossentropy")
            y = np.digitize(score, np.quantile(score, np.linspace(0, 1, units + 1)[1:-1]))
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return model


def _convert(model: Any, fmt: str, length: int, **plan_options: Any) -> Any:
    from lstm_deploy.export.convert import convert, load_artifact
    from lstm_deploy.export.plan import build_plan

    plan = build_plan(model, (length, F), **plan_options)
    return load_artifact(convert(plan, fmt, "fp32"))


def correct_rows(archs: list[str], lengths: list[int], scales: list[float]) -> list[dict[str, Any]]:
    """rel_error of correct fp32 conversions, one row per model x format x length x scale."""
    from lstm_deploy.load.flavours import predict

    rows = []
    for arch in archs:
        for trained in (False, True):
            model = build(arch, trained)
            for length in lengths:
                rng = np.random.default_rng(length)
                base = rng.standard_normal((N, length, F)).astype(np.float32)
                for fmt in ("tflite", "onnx"):
                    artifact = _convert(model, fmt, length)
                    for scale in scales:
                        x = base * np.float32(scale)
                        err = metrics.rel_error(artifact.predict(x), predict(model, x))
                        rows.append({"model": arch, "trained": trained, "format": fmt, "length": length, "scale": scale, "rel_error": err})
                        print(f"  {arch:10s} {'trained' if trained else 'random':7s} {fmt:6s} T={length:<4d} scale={scale:<6g} {err:.2e}", flush=True)
    return rows


def fault_rows(length: int = 20) -> list[dict[str, Any]]:
    """rel_error of the real faults the gate must catch, on the trained issue-17 model and a masked model."""
    from ai_edge_litert.interpreter import Interpreter

    from lstm_deploy.export.convert import convert
    from lstm_deploy.export.plan import build_plan
    from lstm_deploy.load.flavours import predict

    rows = []
    x = np.random.default_rng(1).standard_normal((N, length, F)).astype(np.float32)
    for trained in (False, True):
        model = build("issue17", trained)
        ref = predict(model, x)
        # 1. state carried across invoke: the artifact itself is right, the caller never resets
        art = convert(build_plan(model, (length, F)), "tflite", "fp32")
        it = Interpreter(model_content=art.data)
        it.allocate_tensors()
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        carried = []
        for seq in x:
            it.set_tensor(inp["index"], seq[None])
            it.invoke()
            carried.append(it.get_tensor(out["index"])[0].copy())
        rows.append({"fault": "state carried across invoke", "trained": trained, "rel_error": metrics.rel_error(np.array(carried), ref)})
        # 2. a wrong weight: the largest recurrent weight of the first LSTM zeroed before conversion
        bad = _tf.tf_keras().models.clone_model(model)
        bad.set_weights(model.get_weights())
        kernel, recurrent, bias = bad.layers[0].get_weights()
        recurrent.flat[np.abs(recurrent).argmax()] = 0.0
        bad.layers[0].set_weights([kernel, recurrent, bias])
        wrong = _convert(bad, "tflite", length).predict(x)
        rows.append({"fault": "one wrong weight", "trained": trained, "rel_error": metrics.rel_error(wrong, ref)})
    # 3. wrong masking: post-padded inputs, a lengths-input artifact told every sequence is full
    k = _tf.tf_keras()
    _tf.tf().random.set_seed(0)
    masked = k.Sequential([k.Input((length, F)), k.layers.Masking(0.0), k.layers.LSTM(24), k.layers.Dense(3, activation="softmax")])
    xm = x.copy()
    for i, n in enumerate(np.random.default_rng(2).integers(length // 4, length, size=N)):
        xm[i, n:] = 0.0
    for fmt in ("tflite", "onnx"):
        art = _convert(masked, fmt, length, lengths_input=True)
        wrong = art.predict(xm, lengths=np.full(N, length, np.int32))
        rows.append({"fault": f"wrong masking ({fmt})", "trained": False, "rel_error": metrics.rel_error(wrong, predict(masked, xm))})
    return rows


def main() -> None:
    from lstm_deploy.export.parity import FP32_TOLERANCE

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two models, lengths 10/50, scales 1/10")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fp32_gate.json"))
    args = parser.parse_args()
    _tf.quiet()
    archs = ["issue17", "regression"] if args.quick else ["issue17", "wide", "bidir", "regression"]
    lengths = [10, 50] if args.quick else [10, 50, 200]
    scales = [1.0, 10.0] if args.quick else [0.1, 1.0, 10.0, 100.0]
    start = time.perf_counter()
    print("correct fp32 conversions (rel_error vs Keras):")
    correct = correct_rows(archs, lengths, scales)
    faults = fault_rows()
    worst = max(r["rel_error"] for r in correct)
    mildest = min(r["rel_error"] for r in faults)
    print(f"\n{'format':8s} {'worst rel_error':>16s} {'median':>10s}   worst case")
    for fmt in ("tflite", "onnx"):
        sub = [r for r in correct if r["format"] == fmt]
        w = max(sub, key=lambda r: r["rel_error"])
        print(f"{fmt:8s} {w['rel_error']:16.2e} {np.median([r['rel_error'] for r in sub]):10.2e}   "
              f"{w['model']} {'trained' if w['trained'] else 'random'} T={w['length']} scale={w['scale']:g}")
    print(f"\n{'fault':32s} {'model':8s} {'rel_error':>10s}")
    for r in faults:
        print(f"{r['fault']:32s} {'trained' if r['trained'] else 'random':8s} {r['rel_error']:10.2e}")
    ok = worst < FP32_TOLERANCE < mildest
    print(f"\ndefault fp32_tolerance {FP32_TOLERANCE:g}: worst correct kernel {worst:.2e} ({FP32_TOLERANCE / worst:.0f}x below), "
          f"mildest fault {mildest:.2e} ({mildest / FP32_TOLERANCE:.0f}x above) -> {'PASS' if ok else 'FAIL'}")
    result = {"benchmark": "fp32_gate", "quick": args.quick, "seconds": round(time.perf_counter() - start, 1),
              "platform": platform.platform(), "fp32_tolerance": FP32_TOLERANCE, "worst_correct": worst, "mildest_fault": mildest,
              "passed": ok, "correct": correct, "faults": faults}
    atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
