"""Step 2: prune whole LSTM units (a smaller *and* faster model), fine-tuned with early stopping.

A quarter of the units go; the fine-tune recovers the accuracy (BasicMotions has 40 test
sequences, so one sequence is 2.5 points). On LSTM(32) layers the speed-up is small: the
work per step is tiny either way (``benchmarks/prune_tradeoff.py`` shows LSTM(128)).
Writes ``example_out/pruned.keras``. Needs step 01's files (created on demand).

    python examples/02_prune.py          (2 minutes on 2 busy cores)
"""

from _common import OUT, SMALL, example_data, quiet

if __name__ == "__main__":
    quiet()
    model_path, data_path = example_data()
    from lstm_deploy.compress.prune import PruneConfig, prune_model
    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.load.modelio import load_model, save_model

    loaded = load_model(model_path)
    dataset = load_data(data_path, model_input_shape=loaded.model.inputs[0].shape[1:])
    config = PruneConfig(sparsity=0.25, method="units", **({"steps": 4} if SMALL else {}))
    result = prune_model(loaded.model, dataset, config)
    save_model(result.model, OUT / "pruned.keras", flavour=loaded.flavour)  # Keras 3 in, Keras 3 out
    r = result.report
    speedup = f"{r.speedup:.2f}x" if r.speedup else "not measured"
    print(f"pruned {r.achieved_sparsity:.0%} of the LSTM units: accuracy {r.metric_before:.1%} -> {r.metric_after:.1%}, "
          f"ONNX Runtime batch-1 speed-up {speedup}; wrote {OUT / 'pruned.keras'}")
