"""Step 2: prune. Magnitude pruning makes the file smaller; removing whole LSTM units makes it faster.

    python examples/02_prune.py
"""

from lstm_deploy.load.dataset import load_data
from lstm_deploy.load.modelio import load_model, save_model
from lstm_deploy.compress.prune import PruneConfig, prune_model

if __name__ == "__main__":
    loaded = load_model("example_out/model.keras")
    dataset = load_data("example_out/data.npz", model_input_shape=loaded.model.inputs[0].shape[1:])
    result = prune_model(loaded.model, dataset, PruneConfig(sparsity=0.5, method="units", epochs=5))
    save_model(result.model, "example_out/pruned.keras", flavour=loaded.flavour)  # Keras 3 in, Keras 3 out
    r = result.report
    print(f"metric {r.metric_before:.3f} -> {r.metric_after:.3f}; ONNX Runtime batch-1 speed-up {r.speedup}")
