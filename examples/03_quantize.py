"""Step 3: quantization-aware training for LSTMs, ending in a plain model that exports to fused kernels.

Fine-tunes the pruned model of step 02 under simulated int8 and compares, per mode, the
float model, plain post-training quantization (PTQ) and the QAT model's artifact.
Writes ``example_out/qat.keras``.

    python examples/03_quantize.py       (the default budget, 600+ steps: 5 minutes on 2 busy cores)
"""

from _common import OUT, SMALL, need, quiet

if __name__ == "__main__":
    quiet()
    pruned = need(OUT / "pruned.keras", "02_prune.py")
    from lstm_deploy.compress.qat import quantize_aware_train
    from lstm_deploy.compress.qat.config import QatConfig
    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.load.modelio import load_model, save_model

    loaded = load_model(pruned)
    dataset = load_data(OUT / "data.npz", model_input_shape=loaded.model.inputs[0].shape[1:])
    result = quantize_aware_train(loaded.model, dataset, QatConfig(target="tflite-int8", **({"steps": 4} if SMALL else {})))
    save_model(result.model, OUT / "qat.keras", flavour=loaded.flavour)
    r = result.report
    print(f"QAT for {r.target}: best step {r.best_step}; wrote {OUT / 'qat.keras'}")
    print(f"  {'mode':10s} {'float':>7s} {'PTQ':>7s} {'QAT':>7s} {'QAT size':>9s}")
    for row in r.modes:
        print(f"  {row.mode:10s} {row.float_metric:7.1%} {row.ptq_metric:7.1%} {row.qat_metric:7.1%} {row.qat_bytes / 1024:7.1f} KB")
    if r.verdict:
        print(f"  {r.verdict}")
