"""Step 4: export to TFLite and ONNX; every artifact is compared with the Keras model before it is written.

    python examples/04_export.py
"""

from lstm_deploy.export import ExportConfig, export_model

if __name__ == "__main__":
    config = ExportConfig(formats=("tflite", "onnx"), quantize=("fp32", "dynamic", "int8"), max_metric_drop=0.05)
    results = export_model("example_out/qat.keras", "example_out/artifacts", config, data="example_out/data.npz")
    for r in results:
        print(f"{r.artifact.name:32s} {r.size_bytes / 1024:7.1f} KB  fused={r.fused}  parity passed={r.passed}")
