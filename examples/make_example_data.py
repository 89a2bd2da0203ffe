"""Step 0: a small trained model and data file for the other examples (about 1 minute on 2 cores).

Writes ``example_out/model.keras`` (Keras 3) and ``example_out/data.npz`` from the real
BasicMotions sensor recordings that ship in the ``aeon`` wheel.

    python examples/make_example_data.py
"""

from pathlib import Path

from lstm_deploy.load.dataset import load_data
from lstm_deploy.load.sources import aeon_classification
from lstm_deploy.load.modelio import save_model
from lstm_deploy.pipeline.recipe import Architecture, TrainSpec
from lstm_deploy.pipeline.train import train_baseline

OUT = Path("example_out")

if __name__ == "__main__":
    prepared = aeon_classification("BasicMotions")
    data_path = prepared.save_npz(OUT / "data.npz")
    dataset = load_data(data_path)
    model, history = train_baseline(TrainSpec(architecture=Architecture(units=[32, 32]), epochs=60, batch_size=8, patience=10), dataset)
    save_model(model, OUT / "model.keras")
    print(f"wrote {OUT / 'model.keras'} (val accuracy {history['val_accuracy'][-1]:.2f}) and {data_path}")
