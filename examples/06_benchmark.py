"""Step 6: benchmark the Keras model and every artifact the same way; write report.md/.html/.json.

    python examples/06_benchmark.py
"""

from lstm_deploy.bench import BenchConfig, benchmark, write_report

if __name__ == "__main__":
    report = benchmark(["example_out/qat.keras", "example_out/artifacts"], "example_out/data.npz",
                       BenchConfig(runtimes=("keras", "tflite", "onnxruntime"), batch_sizes=(1,)))
    write_report(report, "example_out/bench")
    best = min(report.ok_rows(), key=lambda r: r["p50_ms"])
    print(f"fastest: {best['artifact']} on {best['runtime']} at {best['p50_ms']:.3f} ms (p50)")
