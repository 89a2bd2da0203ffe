"""Step 6: benchmark the Keras model and every artifact the same way; write report.md/.html/.json.

    python examples/06_benchmark.py      (about 1 minute)
"""

from _common import OUT, SMALL, need, quiet

if __name__ == "__main__":
    quiet()
    qat = need(OUT / "qat.keras", "03_quantize.py")
    artifacts = need(OUT / "artifacts", "04_export.py")
    from lstm_deploy.bench import BenchConfig, benchmark, write_report

    settings = {"warmup": 1, "repeats": 3, "min_seconds": 0.0} if SMALL else {}
    report = benchmark([qat, artifacts], OUT / "data.npz", BenchConfig(runtimes=("keras", "tflite", "onnxruntime"), batch_sizes=(1,), **settings))
    write_report(report, OUT / "bench")
    best = min(report.ok_rows(), key=lambda r: r["p50_ms"])
    print(f"fastest: {best['artifact']} on {best['runtime']}, {best['p50_ms']:.3f} ms per sequence (median, batch 1); "
          f"report: {OUT / 'bench' / 'report.html'}")
