"""Sparsity vs accuracy vs size vs latency for both pruning methods, on real data.

Data: JapaneseVowels (UCR/UEA multivariate archive; 9 speakers, 12 LPC channels,
7-29 frames; 270 train / 370 test series), which ships inside the ``aeon`` wheel
(``pip install -e ".[data]"``) -- no download at run time. Series are pre-padded with
zeros to 29 frames and standardized per channel with train statistics.

Model: a trained 2-layer LSTM(128) classifier (Keras 3, like most users' models).
Every row is ``lstm_deploy.prune.prune_model`` with fine-tuning and early stopping;
latency is ONNX Runtime, batch 1, one thread, median of 300 runs after warm-up,
in blocks alternating with the unpruned model's runs (speedup = their ratio; the
best-case (min) ratio is shown too, since a shared machine inflates medians).

Run:  .venv/bin/python benchmarks/prune_tradeoff.py      (about 5 min on 2 cores)
Writes benchmarks/results/prune_tradeoff.json and prints the table plus PASS/FAIL
lines for the targets of issue 4.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lstm_deploy import _tf  # noqa: E402
from lstm_deploy.atomic import atomic_write_text  # noqa: E402
from lstm_deploy.load.dataset import validate_arrays  # noqa: E402

UNITS = 128
SEQ_LEN = 29
TARGETS = {"magnitude": (0.8, 1.0, None), "units": (0.5, 2.0, 1.8)}  # sparsity, max points lost, min speedup


def load_japanese_vowels() -> dict[str, np.ndarray]:
    """The aeon-bundled JapaneseVowels split, pre-padded to 29 frames and standardized."""
    from aeon.datasets import load_japanese_vowels

    arrays = {}
    for split in ("train", "test"):
        series, labels = load_japanese_vowels(split=split)  # list of [12, length] arrays (no network)
        x = np.zeros((len(series), SEQ_LEN, 12), np.float32)
        for i, s in enumerate(series):
            s = np.asarray(s, np.float32).T[-SEQ_LEN:]
            x[i, SEQ_LEN - len(s) :] = s
        arrays[f"x_{split}"] = x
        arrays[f"y_{split}"] = np.asarray(labels).astype(np.int64) - 1
    order = np.random.default_rng(0).permutation(len(arrays["x_train"]))  # the file is sorted by class
    arrays["x_train"], arrays["y_train"] = arrays["x_train"][order], arrays["y_train"][order]
    real = arrays["x_train"].reshape(-1, 12)
    real = real[np.any(real != 0, axis=1)]
    mean, std = real.mean(0), real.std(0) + 1e-6
    for split in ("train", "test"):
        x = arrays[f"x_{split}"]
        mask = np.any(x != 0, axis=2, keepdims=True)
        arrays[f"x_{split}"] = np.where(mask, (x - mean) / std, 0.0).astype(np.float32)
    return arrays


def train_baseline(arrays: dict[str, np.ndarray], epochs: int, seed: int) -> object:
    keras = _tf.keras3()
    keras.utils.set_random_seed(seed)
    inp = keras.Input((SEQ_LEN, 12), name="frames")
    h = keras.layers.LSTM(UNITS, return_sequences=True, name="lstm_1")(inp)
    h = keras.layers.LSTM(UNITS, name="lstm_2")(h)
    out = keras.layers.Dense(9, activation="softmax", name="speaker")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    model.fit(
        arrays["x_train"], arrays["y_train"], epochs=epochs, batch_size=32, validation_split=0.1,
        callbacks=[stop], verbose=0,
    )
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "prune_tradeoff.json"))
    parser.add_argument("--train-epochs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20, help="fine-tuning epochs per pruning run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from lstm_deploy.compress.prune import PruneConfig, prune_model
    from lstm_deploy.compress.fit import evaluate
    from lstm_deploy.compress.prune.report import onnx_latency, weight_sizes

    t0 = time.perf_counter()
    arrays = load_japanese_vowels()
    ds = validate_arrays(arrays, source="aeon:JapaneseVowels")
    model = train_baseline(arrays, args.train_epochs, args.seed)
    base_acc = 100 * evaluate(model, ds)  # this table prints percent; the library returns fractions
    (base_lat,) = onnx_latency(model, sample=ds.x_test[0], repeats=100)
    base_size = weight_sizes(model)
    print(f"baseline 2x LSTM({UNITS}) on JapaneseVowels: accuracy {base_acc:.2f} %, "
          f"ORT p50 {base_lat['p50_ms']:.3f} ms ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = [{
        "method": "none", "sparsity": 0.0, "accuracy": base_acc, "drop": 0.0, "params": base_size["params"],
        "nonzero": base_size["nonzero"], "raw_kb": base_size["raw_bytes"] / 1024, "gzip_kb": base_size["gzip_bytes"] / 1024,
        "p50_ms": base_lat["p50_ms"], "speedup": 1.0, "min_ms": base_lat["min_ms"], "speedup_min": 1.0,
        "steps_run": 0, "seconds": 0.0,
    }]
    runs = [("magnitude", s) for s in (0.5, 0.8, 0.9)] + [("units", s) for s in (0.25, 0.5, 0.75)]
    for method, sparsity in runs:
        t = time.perf_counter()
        cfg = PruneConfig(sparsity=sparsity, method=method, epochs=args.epochs, batch_size=32, learning_rate=1e-3,
                          patience=4, seed=args.seed)
        res = prune_model(model, ds, cfg, measure_latency=False)
        before, lat = onnx_latency(model, res.model, sample=ds.x_test[0], repeats=300)  # interleaved with the baseline
        rep = res.report
        rows.append({
            "method": method, "sparsity": sparsity, "accuracy": 100 * rep.metric_after, "drop": base_acc - 100 * rep.metric_after,
            "achieved_sparsity": rep.achieved_sparsity, "params": rep.size_after["params"], "nonzero": rep.size_after["nonzero"],
            "raw_kb": rep.size_after["raw_bytes"] / 1024, "gzip_kb": rep.size_after["gzip_bytes"] / 1024,
            "p50_ms": lat["p50_ms"], "baseline_p50_ms": before["p50_ms"], "speedup": before["p50_ms"] / lat["p50_ms"],
            "min_ms": lat["min_ms"], "baseline_min_ms": before["min_ms"], "speedup_min": before["min_ms"] / lat["min_ms"],
            "steps_run": rep.steps_run,
            "units": {r["layer"]: r["units_after"] for r in rep.layers if "units_after" in r},
            "seconds": time.perf_counter() - t,
        })
        r = rows[-1]
        print(f"{method:9s} {sparsity:.2f}: accuracy {r['accuracy']:.2f} % (drop {r['drop']:+.2f}), "
              f"gzip {r['gzip_kb']:.0f} KB, p50 {r['p50_ms']:.3f} ms ({r['speedup']:.2f}x), {r['seconds']:.0f} s", flush=True)

    header = (
        "| method | sparsity | accuracy % | drop (points) | nonzero params | raw KB | gzip KB | ORT p50 ms "
        "| speedup (p50) | speedup (min) |"
    )
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['sparsity']:.2f} | {r['accuracy']:.2f} | {r['drop']:+.2f} | {r['nonzero']} | "
            f"{r['raw_kb']:.0f} | {r['gzip_kb']:.0f} | {r['p50_ms']:.3f} | {r['speedup']:.2f}x | {r['speedup_min']:.2f}x |"
        )
    verdicts = []
    for method, (sparsity, max_drop, min_speedup) in TARGETS.items():
        r = next(r for r in rows if r["method"] == method and r["sparsity"] == sparsity)
        ok = r["drop"] <= max_drop and (min_speedup is None or r["speedup"] >= min_speedup)
        goal = f"<= {max_drop} points lost" + (f" and >= {min_speedup}x ORT batch-1" if min_speedup else "")
        verdicts.append(
            f"{'PASS' if ok else 'FAIL'} {method}: {sparsity:.0%} -> {r['drop']:+.2f} points"
            + (f", {r['speedup']:.2f}x median ({r['speedup_min']:.2f}x best-case)" if min_speedup else "")
            + f" (target {goal}" + ("; judged on the median)" if min_speedup else ")")
        )
    print("\n" + "\n".join(lines) + "\n\n" + "\n".join(verdicts))
    result = {
        "dataset": "JapaneseVowels (aeon 1.6.0 bundled; 270 train / 370 test, 29 frames x 12 channels, 9 classes)",
        "model": f"Keras 3: LSTM({UNITS}, return_sequences) -> LSTM({UNITS}) -> Dense(9, softmax)",
        "latency": "onnxruntime CPU, batch 1, 1 thread, median of 300 runs after 20 warm-up runs, interleaved with the baseline",
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "load_average_at_end": list(os.getloadavg()),
        "fine_tune_epochs": args.epochs, "seed": args.seed, "rows": rows, "verdicts": verdicts, "table": lines,
        "total_seconds": time.perf_counter() - t0,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2, default=float) + "\n")
    print(f"\nwrote {args.out} ({result['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
