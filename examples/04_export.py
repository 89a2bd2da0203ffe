"""Step 4: export to TFLite and ONNX; every artifact is compared with the Keras model before it is written.

fp32 must match the model to relative error 1e-5; quantized artifacts may lose at most
``max_metric_drop`` accuracy (0.025 = one of BasicMotions' 40 test sequences).
Writes ``example_out/artifacts/qat.*`` plus a manifest per artifact.

    python examples/04_export.py
"""

from _common import OUT, need, quiet

if __name__ == "__main__":
    quiet()
    qat = need(OUT / "qat.keras", "03_quantize.py")
    from lstm_deploy.export import ExportConfig, export_model

    config = ExportConfig(formats=("tflite", "onnx"), quantize=("fp32", "dynamic", "int8"), max_metric_drop=0.025)
    results = export_model(qat, OUT / "artifacts", config, data=OUT / "data.npz")
    print(f"  {'artifact':24s} {'size':>9s}  fused  parity")
    for r in results:
        if r.artifact is None:  # a quantized mode the converter left all-float: said, not written under a quantized name
            print(f"  ({r.format} {r.quantization}: not written -- {r.note})")
            continue
        print(f"  {r.artifact.name:24s} {r.size_bytes / 1024:6.1f} KB  {'yes' if r.fused else 'no':5s}  {r.parity.message}")
