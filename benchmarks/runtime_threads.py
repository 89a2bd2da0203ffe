"""What the thread-safe runtime costs: one shared ``runtime.Model`` called from several threads.

Model: Keras 3 2x LSTM(256) -> Dense(4) on BasicMotions-shaped input (100 steps x 6 channels, real
recordings from the ``aeon`` wheel), fp32 TFLite (batch 1) and ONNX, ``num_threads=1``.
For each artifact: single-sequence ``predict`` calls per second from 1 thread and from 4 threads
sharing one Model (TFLite with a pool of 1 and of 2 interpreters), every answer compared with the
sequential one (``wrong``), and the resident memory each extra interpreter adds. The pool's own
overhead is timed too: ``Model.predict`` vs. the bare signature runner on the same interpreter.

Run:  .venv/bin/python benchmarks/runtime_threads.py     (about 1 min)
Writes benchmarks/results/runtime_threads.json and prints the table.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lstm_deploy.atomic import atomic_write_text  # noqa: E402

CALLS = 200


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def calls_per_s(model, x: np.ndarray, threads: int, expected: np.ndarray) -> tuple[float, int]:
    def one(i: int) -> np.ndarray:
        return model.predict(x[i % len(x):i % len(x) + 1])[0]

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        got = list(pool.map(one, range(CALLS)))
    rate = CALLS / (time.perf_counter() - start)
    wrong = sum(not np.array_equal(y, expected[i % len(x)]) for i, y in enumerate(got))
    return rate, wrong


def main() -> int:
    from lstm_deploy import _tf
    from lstm_deploy.export import ExportConfig, export_model
    from lstm_deploy.load.sources import aeon_classification
    from lstm_deploy.runtime import Model

    x = aeon_classification("BasicMotions").arrays["x_test"]
    keras = _tf.keras3()
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input(x.shape[1:]), L.LSTM(256, return_sequences=True), L.LSTM(256), L.Dense(4, activation="softmax")])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = export_model(model, tmp, ExportConfig(formats=("tflite", "onnx")), name="medium")
        for r in results:
            base = Model.load(r.artifact, num_threads=1)
            expected = np.stack([base.predict(x[i:i + 1])[0] for i in range(len(x))])
            configs = [(1, 1), (4, 1), (4, 2)] if r.format == "tflite" else [(1, 1), (4, 1)]
            for threads, pool in configs:
                before = rss_mib()
                shared = Model.load(r.artifact, num_threads=1, concurrency=pool)
                added = rss_mib() - before
                shared.predict(x[:1])
                rate, wrong = calls_per_s(shared, x, threads, expected)
                rows.append({"format": r.format, "calling_threads": threads, "concurrency": shared.concurrency,
                             "calls_per_s": round(rate, 1), "wrong": wrong, "model_rss_mib": round(added, 1)})
                print(rows[-1], file=sys.stderr)
            if r.format == "tflite":  # the pool's own cost: Model.predict vs the bare runner, same interpreter, sequential
                backend = base.backend
                interpreter, runner = backend._all[0]
                seq = x[:1]
                timings = {}
                for name, call in (("bare", lambda: (interpreter.reset_all_variables(), runner(x=seq))),
                                   ("Model.predict", lambda: base.predict(seq))):
                    for _ in range(20):
                        call()
                    t0 = time.perf_counter()
                    for _ in range(CALLS):
                        call()
                    timings[name] = (time.perf_counter() - t0) / CALLS * 1000
                overhead = {"bare_ms": round(timings["bare"], 3), "model_predict_ms": round(timings["Model.predict"], 3)}
    table = ["| format | calling threads | interpreters (TFLite) | calls/s | wrong | model RSS MiB |", "|---|---:|---:|---:|---:|---:|"]
    table += [f"| {r['format']} | {r['calling_threads']} | {r['concurrency'] or 'one shared session'} | {r['calls_per_s']:.0f} | {r['wrong']} | "
              f"{r['model_rss_mib']} |" for r in rows]
    from lstm_deploy.bench.machine import describe_machine

    result = {"model": "Keras 3 2x LSTM(256) -> Dense(4), 100 steps x 6 channels (BasicMotions x_test), fp32, num_threads=1",
              "calls": CALLS, "rows": rows, "tflite_sequential_overhead": overhead, "table": "\n".join(table),
              "machine": describe_machine(), "load_average_at_end": os.getloadavg()}
    out = ROOT / "benchmarks" / "results" / "runtime_threads.json"
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(result["table"])
    print(f"TFLite, sequential: bare runner {overhead['bare_ms']} ms/call, Model.predict {overhead['model_predict_ms']} ms/call")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
