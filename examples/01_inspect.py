"""Step 1: what is in the model? Parameters, MACs, and which stages apply to each layer.

The first run creates ``example_out/model.keras`` and ``data.npz`` (``make_example_data.py``,
about a minute); steps 02 .. 07 then build on each other, in order.

    python examples/01_inspect.py
"""

from _common import example_data, quiet

if __name__ == "__main__":
    quiet()
    model_path, _ = example_data()
    from lstm_deploy.load.modelio import load_model
    from lstm_deploy.load.summary import inspect_model

    loaded = load_model(model_path)
    report = inspect_model(loaded.model)
    print(f"{model_path}: {loaded.flavour} model, {report.params:,} parameters, {report.macs:,} MACs per sequence")
    print(f"  {'layer':12s} {'type':12s} {'params':>7s}  fused export")
    for layer in report.layers:
        print(f"  {layer.name:12s} {layer.type:12s} {layer.params:>7,}  {layer.stages['fused_export']}")
