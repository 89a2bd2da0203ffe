"""Concurrent clients against ``lstm-deploy serve``: requests/s, latency, wrong answers, errors; micro-batching on and off.

Data: BasicMotions (UCR/UEA, accelerometer + gyroscope, 100 steps x 6 channels), shipped in the
``aeon`` wheel; every request sends one real test recording (JSON ``{"x": [...]}``).

Models (Keras 3, seeded; serving cost does not depend on trained weights):
  * ``large``:  2x LSTM(512) -> Dense(4), 0.3 G multiply-adds per sequence -- weight-bandwidth bound;
  * ``medium``: 2x LSTM(256) -> Dense(4), 79 M multiply-adds per sequence;
  * ``small``:  2x LSTM(32)  -> Dense(4), the quickstart's size -- HTTP and JSON dominate a request.
Each is exported to fp32 TFLite (batch 1) and ONNX with ``lstm_deploy.export.export_model`` (parity checked).

For every (model, format, batching) a fresh server runs on 127.0.0.1 with two single-threaded
inference workers (``--workers 2 --threads 1``: one per core), micro-batching off
(``--max-batch 1``) or on (``--max-batch 32 --max-wait-ms 2``), and N client threads (keep-alive
connections, pre-encoded bodies) send requests back to back for the given time.
Every answer is compared with the one-at-a-time prediction of the same sequence
(``runtime.Model.predict`` of that sequence alone): ``wrong`` counts answers differing by more
than 1e-5 (the export's fp32 budget) or with another class; ``max_abs_diff`` is the largest
difference seen; ``errors`` counts non-200 answers and failed connections.

Run:  .venv/bin/python benchmarks/serve_load.py            (about 12 min on 2 cores)
      .venv/bin/python benchmarks/serve_load.py --seconds 5 --models small    (a quick look)
Writes benchmarks/results/serve_load.json and prints the table plus PASS/FAIL lines for the
targets of issue 15 (16 clients for a minute: 0 wrong, 0 errors for both formats; micro-batching
at least doubles ONNX requests/s).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lstm_deploy.atomic import atomic_write_text  # noqa: E402
from lstm_deploy.bench.stats import percentile  # noqa: E402

MODELS = {"large": 512, "medium": 256, "small": 32}
# The same server either way (two inference threads for two cores), micro-batching off or on.
BATCHING = {"off": "--max-batch 1 --workers 2 --threads 1", "on": "--max-batch 32 --max-wait-ms 2 --workers 2 --threads 1"}
TOLERANCE = 1e-5


def export_models(names: list[str], out: Path) -> tuple[dict[str, dict[str, Path]], np.ndarray, list[str]]:
    """Export the benchmark models; returns artifacts per model and format, the request sequences and class names."""
    from lstm_deploy import _tf
    from lstm_deploy.export import ExportConfig, export_model
    from lstm_deploy.load.sources import aeon_classification

    data = aeon_classification("BasicMotions")
    x, labels = data.arrays["x_test"], [str(n) for n in data.label_names or []]
    keras = _tf.keras3()
    artifacts = {}
    for name in names:
        keras.utils.set_random_seed(0)
        L = keras.layers
        units = MODELS[name]
        model = keras.Sequential([keras.Input(x.shape[1:]), L.LSTM(units, return_sequences=True), L.LSTM(units),
                                  L.Dense(len(labels), activation="softmax")])
        results = export_model(model, out / name, ExportConfig(formats=("tflite", "onnx")), name=name, labels=labels)
        artifacts[name] = {r.format: r.artifact for r in results}
    return artifacts, x, labels


def start_server(artifact: Path, options: tuple[str, ...]) -> tuple[subprocess.Popen, str, int]:
    proc = subprocess.Popen([sys.executable, "-m", "lstm_deploy.cli", "serve", str(artifact), "--port", "0", *options],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline, line = time.monotonic() + 60, ""
    while "serving" not in line and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stderr.readline()  # type: ignore[union-attr]
    if "serving" not in line:
        proc.kill()
        raise SystemExit(f"server for {artifact} did not start: {line!r}")
    host, port = line.split("http://")[1].split()[0].rsplit(":", 1)
    return proc, host, int(port)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr:
        proc.stderr.close()


def client(host: str, port: int, bodies: list[bytes], expected: np.ndarray, until: float, offset: int, out: dict) -> None:
    """Send requests back to back until ``until``; record latency and check every answer."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    i = offset
    while time.perf_counter() < until and out["sent"] < 1_000_000:  # bounded in time and in count
        k = i % len(bodies)
        i += 1
        out["sent"] += 1
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/predict", body=bodies[k], headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException):
            out["errors"] += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        out["latency"].append(time.perf_counter() - t0)
        if resp.status != 200:
            out["errors"] += 1
            continue
        y = np.asarray(json.loads(payload)["y"], np.float64)
        diff = float(np.abs(y - expected[k]).max())
        out["max_abs_diff"] = max(out["max_abs_diff"], diff)
        out["wrong"] += int(diff > TOLERANCE or int(y.argmax()) != int(expected[k].argmax()))
    conn.close()


def load_run(artifact: Path, batching: str, options: str, x: np.ndarray, clients: int, seconds: float) -> dict:
    from lstm_deploy.runtime import Model

    model = Model.load(artifact)
    expected = np.stack([model.predict(x[i:i + 1])[0] for i in range(len(x))]).astype(np.float64)  # one at a time
    bodies = [json.dumps({"x": seq.tolist()}).encode() for seq in x]
    proc, host, port = start_server(artifact, tuple(options.split()))
    try:
        for k in range(min(8, len(bodies))):  # warm-up: first calls initialize the runtime
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("POST", "/predict", body=bodies[k])
            conn.getresponse().read()
            conn.close()
        stats = [{"sent": 0, "errors": 0, "wrong": 0, "max_abs_diff": 0.0, "latency": []} for _ in range(clients)]
        start = time.perf_counter()
        until = start + seconds
        threads = [threading.Thread(target=client, args=(host, port, bodies, expected, until, 5 * c, stats[c])) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", "/healthz")
        health = json.loads(conn.getresponse().read())
        conn.close()
    finally:
        stop_server(proc)
    latency_ms = [t * 1000 for s in stats for t in s["latency"]]
    answered = len(latency_ms)
    return {
        "artifact": artifact.name, "format": model.format, "batching": batching, "server": options, "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": answered, "requests_per_s": round(answered / elapsed, 1),
        "p50_ms": round(percentile(latency_ms, 50), 2) if latency_ms else None,
        "p99_ms": round(percentile(latency_ms, 99), 2) if latency_ms else None,
        "wrong": sum(s["wrong"] for s in stats), "errors": sum(s["errors"] for s in stats),
        "max_abs_diff": max(s["max_abs_diff"] for s in stats), "mean_batch": health.get("mean_batch"),
    }


def table(rows: list[dict]) -> str:
    head = ("| model | format | micro-batching | clients | requests/s | p50 ms | p99 ms | mean batch | wrong | errors | max abs diff |\n"
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [f"| {r['model']} | {r['format']} | {r['batching']} | {r['clients']} | {r['requests_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | "
             f"{r['mean_batch']} | {r['wrong']} | {r['errors']} | {r['max_abs_diff']:.1e} |" for r in rows]
    return "\n".join([head, *lines])


def verdicts(rows: list[dict], seconds: float, clients: int) -> list[str]:
    out = []
    long_enough = seconds >= 60 and clients >= 16
    clean = all(r["wrong"] == 0 and r["errors"] == 0 for r in rows)
    out.append(f"{'PASS' if clean and long_enough else 'FAIL' if not clean else 'n/a'}: 0 wrong answers and 0 errors for every run "
               f"({clients} clients, {seconds:g} s{'' if long_enough else '; the target needs --seconds 60 --clients 16'})")
    for model in dict.fromkeys(r["model"] for r in rows):
        on = next((r for r in rows if r["model"] == model and r["format"] == "onnx" and r["batching"] == "on"), None)
        off = next((r for r in rows if r["model"] == model and r["format"] == "onnx" and r["batching"] == "off"), None)
        if on and off and off["requests_per_s"]:
            gain = on["requests_per_s"] / off["requests_per_s"]
            out.append(f"{'PASS' if gain >= 2 else 'FAIL'}: {model} ONNX, micro-batching {gain:.2f}x the requests/s of one-at-a-time serving "
                       f"(p99 {on['p99_ms']} ms vs {off['p99_ms']} ms; target >= 2x)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load time per run")
    parser.add_argument("--small-seconds", type=float, default=20.0, help="load time per run of the small model")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--models", default="large,medium,small", help="comma list of: " + ", ".join(MODELS))
    parser.add_argument("--formats", default="onnx,tflite")
    parser.add_argument("--on", default=BATCHING["on"], help="server options with micro-batching")
    parser.add_argument("--off", default=BATCHING["off"], help="server options without micro-batching")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve_load.json"))
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        artifacts, x, labels = export_models(names, Path(tmp))
        rows = []
        for name in names:
            seconds = args.small_seconds if name == "small" else args.seconds
            for fmt in args.formats.split(","):
                for batching in ("off", "on"):
                    options = args.on if batching == "on" else args.off
                    row = {"model": name, **load_run(artifacts[name][fmt], batching, options, x, args.clients, seconds)}
                    rows.append(row)
                    print(f"{name} {fmt} batching {batching}: {row['requests_per_s']:.0f} req/s, p99 {row['p99_ms']} ms, "
                          f"wrong {row['wrong']}, errors {row['errors']}", file=sys.stderr)
    from lstm_deploy.bench.machine import describe_machine

    result = {
        "dataset": f"BasicMotions x_test ({len(x)} recordings of {x.shape[1]} steps x {x.shape[2]} channels), one per request",
        "models": {n: f"Keras 3 LSTM({MODELS[n]}) -> LSTM({MODELS[n]}) -> Dense({len(labels)}), fp32 TFLite (batch 1) and ONNX" for n in names},
        "server_options": {"off": args.off, "on": args.on}, "tolerance": TOLERANCE,
        "clients": args.clients, "seconds": {n: args.small_seconds if n == "small" else args.seconds for n in names},
        "machine": describe_machine(), "load_average_at_end": os.getloadavg(), "rows": rows,
        "verdicts": verdicts([r for r in rows if r["model"] != "small"] or rows, args.seconds, args.clients),
        "table": table(rows), "total_seconds": round(time.time() - started),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(result["table"])
    print("\n".join(result["verdicts"]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
