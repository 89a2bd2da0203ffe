"""Step 1: what is in the model? Parameters, MACs, and which stages apply to each layer.

    python examples/01_inspect.py
"""

from lstm_deploy.load.summary import inspect_model
from lstm_deploy.load.modelio import load_model

if __name__ == "__main__":
    loaded = load_model("example_out/model.keras")
    report = inspect_model(loaded.model)
    print(f"{loaded.flavour} model: {report.params:,} parameters, {report.macs:,} MACs per sequence")
    for layer in report.layers:
        print(f"  {layer.name:12s} {layer.type:12s} params={layer.params:<7,} fused export: {layer.stages['fused_export']}")
