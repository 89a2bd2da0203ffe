"""QAT vs post-training quantization on real data (UCR/UEA sets shipped in aeon's wheel).

For each case (data set, seed): train a float LSTM classifier on raw inputs, quantize it
after training (PTQ) for every mode, run lstm-deploy's QAT for full-int8 TFLite, and score
float / PTQ / QAT artifacts on the test split. JapaneseVowels seed 0 is a model where PTQ
full-int8 loses accuracy (1 of 370 test samples); BasicMotions seed 2 is a control where PTQ
is lossless on the test split (it flips a training sample, which QAT repairs). The target (issue 5): where PTQ full-int8 loses
accuracy, QAT recovers at least half of the loss and ends within 0.5 points of float;
QAT artifacts must score within 0.3 points of the QAT Keras model.

Runs offline (aeon's bundled data, no downloads) in a few minutes on 2 cores:

    .venv/bin/python benchmarks/qat_vs_ptq.py            # prints a table, writes results/qat_vs_ptq.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstm_deploy import _tf  # noqa: E402
from lstm_deploy.atomic import atomic_write_text  # noqa: E402
from lstm_deploy.data import validate_arrays  # noqa: E402
from lstm_deploy.qat import QatConfig, quantize_aware_train  # noqa: E402

MODES = ("tflite-int8", "tflite-dynamic", "onnx-dynamic")


def load_uea(name: str, max_len: int | None = None):
    """A bundled aeon classification set as (N, T, F) float32 arrays (pre-padded if ragged), raw values."""
    from aeon.datasets import load_classification

    splits = []
    for split in ("train", "test"):
        X, y = load_classification(name, split=split)
        splits.append((X, np.asarray(y)))
    classes = sorted(set(splits[0][1]) | set(splits[1][1]))
    T = max_len or max(np.asarray(x).shape[-1] for X, _ in splits for x in X)
    out = {}
    for (X, y), split in zip(splits, ("train", "test")):
        F = np.asarray(X[0]).shape[0]
        arr = np.zeros((len(X), T, F), np.float32)
        for i, x in enumerate(X):
            x = np.asarray(x, np.float32).T[-T:]
            arr[i, T - len(x):] = x
        out[f"x_{split}"] = arr
        out[f"y_{split}"] = np.array([classes.index(v) for v in y], np.int64)
    return validate_arrays(out, source=f"aeon:{name}")


def train_float(ds, units: int, epochs: int, seed: int, lr: float, batch: int):
    tfk = _tf.tf_keras()
    tfk.utils.set_random_seed(seed)
    n_cls = int(ds.y_train.max()) + 1
    model = tfk.Sequential([
        tfk.layers.Input(ds.x_train.shape[1:]),
        tfk.layers.LSTM(units),
        tfk.layers.Dense(n_cls, activation="softmax"),
    ])
    model.compile(tfk.optimizers.Adam(lr), "sparse_categorical_crossentropy")
    model.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=batch, verbose=0)
    return model


def run_case(name: str, seed: int, ds, args) -> dict:
    t0 = time.time()
    model = train_float(ds, args.units, args.float_epochs, seed, args.lr, args.batch)
    cfg = QatConfig(target="tflite-int8", epochs=args.qat_epochs, batch_size=args.batch, learning_rate=args.qat_lr,
                    val_fraction=0.0, calibration_samples=args.calibration, seed=0)
    res = quantize_aware_train(model, ds, cfg, compare=MODES)
    rep = res.report
    int8 = next(r for r in rep.modes if r.mode == "tflite-int8")
    loss = int8.float_metric - int8.ptq_metric
    recovered = int8.qat_metric - int8.ptq_metric
    checks = {  # the benchmark target
        "ptq_int8_loses_accuracy": loss > 0,
        "qat_recovers_half_of_loss": loss > 0 and recovered >= loss / 2,
        "qat_int8_within_0.5_of_float": int8.float_metric - int8.qat_metric <= 0.5,
    }
    # export parity (issue deliverable 2), per mode: |artifact - QAT Keras model| <= 0.3 points
    parity = {r.mode: round(r.qat_metric - rep.qat_metric, 4) for r in rep.modes}
    if loss > 0:
        verdict = "PASS" if all(checks.values()) else "FAIL"
    else:
        verdict = "control (PTQ lossless): " + ("QAT harmless" if int8.qat_metric >= int8.ptq_metric - 0.5 else "QAT HURT")
    print(f"  {name} seed {seed}: float {int8.float_metric:.2f}  PTQ int8 {int8.ptq_metric:.2f}  QAT int8 {int8.qat_metric:.2f}"
          f"  ({time.time() - t0:.0f} s)", flush=True)
    return {
        "dataset": name, "seed": seed, "n_train": len(ds.x_train), "n_test": len(ds.x_test), "shape": list(ds.x_train.shape[1:]),
        "model": f"LSTM({args.units}) -> Dense softmax, raw inputs, {args.float_epochs} epochs, seed {seed}",
        "float_keras": rep.float_metric, "qat_keras": rep.qat_metric,
        "qat_fake_quant": rep.fake_quant_metric, "qat_best_epoch": rep.best_epoch, "qat_history": rep.history,
        "modes": [r.__dict__ for r in rep.modes], "checks": checks, "verdict": verdict,
        "artifact_minus_qat_keras": parity, "artifact_parity_0.3": {m: abs(d) <= 0.3 for m, d in parity.items()},
        "seconds": round(time.time() - t0, 1),
    }


def print_table(results: list[dict]) -> None:
    print()
    print("| data set | mode | float | PTQ | QAT | PTQ size | QAT size |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        for m in r["modes"]:
            print(f"| {r['dataset']} s{r['seed']} (test n={r['n_test']}) | {m['mode']} | {m['float_metric']:.2f} | {m['ptq_metric']:.2f} | "
                  f"{m['qat_metric']:.2f} | {m['ptq_bytes'] / 1024:.1f} KB | {m['qat_bytes'] / 1024:.1f} KB |")
    print()
    for r in results:
        failed = [k for k, v in r["checks"].items() if not v]
        print(f"{r['dataset']} seed {r['seed']}: {r['verdict']}  (QAT Keras {r['qat_keras']:.2f}, best epoch {r['qat_best_epoch']}; {r['seconds']} s)"
              + (f"  failed: {', '.join(failed)}" if failed else ""))
        print(f"    QAT artifact - QAT Keras (points): {r['artifact_minus_qat_keras']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="JapaneseVowels:0,BasicMotions:2",
                    help="comma-separated DATASET:SEED (aeon bundled sets; seeds where PTQ int8 loses, plus a control)")
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--float-epochs", type=int, default=100)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--qat-epochs", type=int, default=10)
    ap.add_argument("--qat-lr", type=float, default=1e-4)
    ap.add_argument("--calibration", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "qat_vs_ptq.json"))
    args = ap.parse_args()
    _tf.tf().config.threading.set_intra_op_parallelism_threads(2)
    results, cache = [], {}
    for case in args.cases.split(","):
        name, seed = case.split(":")
        if name not in cache:
            cache[name] = load_uea(name)
        results.append(run_case(name, int(seed), cache[name], args))
    print_table(results)
    payload = {"benchmark": "qat_vs_ptq", "args": {k: v for k, v in vars(args).items() if k != "out"}, "results": results}
    atomic_write_text(args.out, json.dumps(payload, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
