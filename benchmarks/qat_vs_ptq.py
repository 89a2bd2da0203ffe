"""QAT vs post-training quantization on real data (UCR/UEA sets shipped in aeon's wheel).

For each case (data set, seed, model): train a float LSTM classifier on the raw series, quantize
it after training (PTQ) for every mode, run lstm-deploy's QAT for full-int8 TFLite, and score
float / PTQ / QAT artifacts on the test split. The target (issue 5): where PTQ full-int8 loses
accuracy, QAT recovers at least half of the loss and ends within 0.5 points of float; QAT
artifacts must score within 0.3 points of the QAT Keras model (for tflite-int8 the
fake-quantized QAT model is also reported: the stripped Keras model runs float activations).

Cases (default --cases):
- JapaneseVowels seed 0, LSTM(32): PTQ int8 loses 1 of 370 test samples.
- BasicMotions seed 2, LSTM(32): control, PTQ lossless on the test split.
- ACSF1 seed 0, LSTM(64), series mean-pooled x10 (1460 -> 146 steps): PTQ int8 loses 2 of 100
  test samples (2 points) -- but the float model is weak (27 % on 10 classes).
- ItalyPowerDemand seed 0, 2x LSTM(64) stacked: PTQ int8 loses 1 of 1029 test samples.
These were picked from a screen of 17 trained configurations (PTQ only, before any QAT run):
full-int8 PTQ was lossless on the test split for JapaneseVowels 2x64 / 128 / 32 (16 calibration
samples), BasicMotions 64 (seeds 0, 1, 3; 8 calibration samples), 2x64, 2x128, OSULeaf 2x64 (pool 4),
PickupGestureWiimoteZ 64 (pool 4), GunPoint 2x64, ArrowHead 2x64 (pool 2), ItalyPowerDemand 32,
128, 2x128; ACSF1 was the only one losing >= 1 point. Trained LSTM classifiers of these sizes
mostly survive full-int8 PTQ; the issue's premise is rare on these data sets.

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
from lstm_deploy.load.dataset import validate_arrays  # noqa: E402
from lstm_deploy.compress.qat import QatConfig, quantize_aware_train  # noqa: E402

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


def pool_time(ds, k: int):
    """Average-pool every k time steps (long univariate series -> a length an LSTM can learn)."""
    if k <= 1:
        return ds
    out = {}
    for split in ("train", "test"):
        x = getattr(ds, f"x_{split}")
        T = x.shape[1] // k * k
        out[f"x_{split}"] = x[:, -T:].reshape(len(x), T // k, k, x.shape[2]).mean(axis=2)
        out[f"y_{split}"] = getattr(ds, f"y_{split}")
    return validate_arrays(out, source=f"{ds.source} pooled x{k}")


def parse_case(case: str, args) -> dict:
    """DATASET:SEED[:UNITS[xLAYERS]][:poolK][:calN] -> case settings (defaults from the command line)."""
    name, seed, *rest = case.split(":")
    spec = {"name": name, "seed": int(seed), "units": args.units, "layers": 1, "pool": 1, "calibration": args.calibration}
    for part in rest:
        if part.startswith("pool"):
            spec["pool"] = int(part[4:])
        elif part.startswith("cal"):
            spec["calibration"] = int(part[3:])
        else:
            units, _, layers = part.partition("x")
            spec["units"], spec["layers"] = int(units), int(layers or 1)
    return spec


def train_float(ds, units: int, epochs: int, seed: int, lr: float, batch: int, layers: int = 1):
    tfk = _tf.tf_keras()
    tfk.utils.set_random_seed(seed)
    n_cls = int(ds.y_train.max()) + 1
    model = tfk.Sequential(
        [tfk.layers.Input(ds.x_train.shape[1:])]
        + [tfk.layers.LSTM(units, return_sequences=i < layers - 1) for i in range(layers)]
        + [tfk.layers.Dense(n_cls, activation="softmax")]
    )
    model.compile(tfk.optimizers.Adam(lr), "sparse_categorical_crossentropy")
    model.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=batch, verbose=0)
    return model


def run_case(spec: dict, ds, args) -> dict:
    name, seed, units, layers = spec["name"], spec["seed"], spec["units"], spec["layers"]
    t0 = time.time()
    model = train_float(ds, units, args.float_epochs, seed, args.lr, args.batch, layers)
    cfg = QatConfig(target="tflite-int8", epochs=args.qat_epochs, batch_size=args.batch, learning_rate=args.qat_lr,
                    val_fraction=0.0, calibration_samples=spec["calibration"], compare=MODES, seed=0)
    res = quantize_aware_train(model, ds, cfg)
    rep = res.report
    int8 = next(r for r in rep.modes if r.mode == "tflite-int8")
    # the library reports fractions; this benchmark's table and thresholds are in points
    int8 = int8.__class__(**{k: (100 * v if k.endswith("_metric") else v) for k, v in int8.__dict__.items()})
    loss = int8.float_metric - int8.ptq_metric
    recovered = int8.qat_metric - int8.ptq_metric
    checks = {  # the benchmark target
        "ptq_int8_loses_accuracy": loss > 0,
        "qat_recovers_half_of_loss": loss > 0 and recovered >= loss / 2,
        "qat_int8_within_0.5_of_float": int8.float_metric - int8.qat_metric <= 0.5,
    }
    # export parity (issue deliverable 2), per mode: |artifact - QAT Keras model| <= 0.3 points
    parity = {r.mode: round(100 * (r.qat_metric - rep.qat_metric), 4) for r in rep.modes}
    int8_vs_fake_quant = round(int8.qat_metric - 100 * rep.fake_quant_metric, 4)
    if loss > 0:
        verdict = "PASS" if all(checks.values()) else "FAIL"
    else:
        verdict = "control (PTQ lossless): " + ("QAT harmless" if int8.qat_metric >= int8.ptq_metric - 0.5 else "QAT HURT")
    print(f"  {name} seed {seed}: float {int8.float_metric:.2f}  PTQ int8 {int8.ptq_metric:.2f}  QAT int8 {int8.qat_metric:.2f}"
          f"  ({time.time() - t0:.0f} s)", flush=True)
    return {
        "dataset": name, "seed": seed, "n_train": len(ds.x_train), "n_test": len(ds.x_test), "shape": list(ds.x_train.shape[1:]),
        "model": (f"{'LSTM(%d) x%d stacked' % (units, layers) if layers > 1 else 'LSTM(%d)' % units} -> Dense softmax, raw inputs"
                  f"{', time pooled x%d' % spec['pool'] if spec['pool'] > 1 else ''}, {args.float_epochs} epochs, seed {seed}"),
        "calibration_samples": min(spec["calibration"], len(ds.x_train)),
        "float_keras": 100 * rep.float_metric, "qat_keras": 100 * rep.qat_metric,
        "qat_fake_quant": 100 * rep.fake_quant_metric, "qat_best_epoch": rep.best_epoch, "qat_history": rep.history,
        "modes": [{k: (100 * v if k.endswith("_metric") else v) for k, v in r.__dict__.items()} for r in rep.modes], "checks": checks, "verdict": verdict,
        "artifact_minus_qat_keras": parity, "int8_artifact_minus_fake_quant": int8_vs_fake_quant, "artifact_parity_0.3": {m: abs(d) <= 0.3 for m, d in parity.items()},
        "seconds": round(time.time() - t0, 1),
    }


def print_table(results: list[dict]) -> None:
    print()
    print("| data set | model | mode | float | PTQ | QAT | PTQ size | QAT size |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        for m in r["modes"]:
            print(f"| {r['dataset']} s{r['seed']} (test n={r['n_test']}) | {r['model'].split(' -> ')[0]} | {m['mode']} | {m['float_metric']:.2f} | {m['ptq_metric']:.2f} | "
                  f"{m['qat_metric']:.2f} | {m['ptq_bytes'] / 1024:.1f} KB | {m['qat_bytes'] / 1024:.1f} KB |")
    print()
    for r in results:
        failed = [k for k, v in r["checks"].items() if not v]
        print(f"{r['dataset']} seed {r['seed']}: {r['verdict']}  (QAT Keras {r['qat_keras']:.2f}, best epoch {r['qat_best_epoch']}; {r['seconds']} s)"
              + (f"  failed: {', '.join(failed)}" if failed else ""))
        print(f"    QAT artifact - QAT Keras (points): {r['artifact_minus_qat_keras']}; "
              f"tflite-int8 QAT artifact - fake-quant QAT model: {r['int8_artifact_minus_fake_quant']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="JapaneseVowels:0,BasicMotions:2,ACSF1:0:64:pool10,ItalyPowerDemand:0:64x2",
                    help="comma-separated DATASET:SEED[:UNITS[xLAYERS]][:poolK][:calN] (aeon bundled sets; cases where "
                         "PTQ int8 loses, plus a control); omitted parts come from --units / --calibration, 1 layer, no pooling")
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
        spec = parse_case(case, args)
        if spec["name"] not in cache:
            cache[spec["name"]] = load_uea(spec["name"])
        results.append(run_case(spec, pool_time(cache[spec["name"]], spec["pool"]), args))
    print_table(results)
    payload = {"benchmark": "qat_vs_ptq", "args": {k: v for k, v in vars(args).items() if k != "out"}, "results": results}
    atomic_write_text(args.out, json.dumps(payload, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
