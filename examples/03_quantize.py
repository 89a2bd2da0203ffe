"""Step 3: quantization-aware training for LSTMs, ending in a plain model that exports to fused kernels.

    python examples/03_quantize.py
"""

from lstm_deploy.load.dataset import load_data
from lstm_deploy.load.modelio import load_model, save_model
from lstm_deploy.compress.qat import quantize_aware_train
from lstm_deploy.compress.qat.config import QatConfig

if __name__ == "__main__":
    loaded = load_model("example_out/pruned.keras")
    dataset = load_data("example_out/data.npz", model_input_shape=loaded.model.inputs[0].shape[1:])
    result = quantize_aware_train(loaded.model, dataset, QatConfig(target="tflite-int8", epochs=2))
    save_model(result.model, "example_out/qat.keras", flavour=loaded.flavour)
    print(result.report.to_dict())
