"""Step 0: a small trained model and data file for the other examples (about 1 minute on 2 cores).

Writes ``example_out/model.keras`` (Keras 3, 2x LSTM(32)) and ``example_out/data.npz`` from the real
BasicMotions sensor recordings that ship in the ``aeon`` wheel (4 classes, 40 train / 40 test
sequences of 100 steps x 6 channels, z-scored). You need not run it yourself: the first example
that needs these files runs it.

    python examples/make_example_data.py
"""

from _common import DATA, MODEL, SMALL, quiet


def make() -> None:
    """Train and write the example model and data (a few epochs only with small settings)."""
    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.load.modelio import save_model
    from lstm_deploy.load.sources import aeon_classification
    from lstm_deploy.pipeline.recipe import Architecture, TrainSpec
    from lstm_deploy.pipeline.train import train_baseline

    quiet()
    data_path = aeon_classification("BasicMotions").save_npz(DATA)
    dataset = load_data(data_path)
    spec = TrainSpec(architecture=Architecture(units=[32, 32]), epochs=3 if SMALL else 60, batch_size=8, patience=10)
    model, history = train_baseline(spec, dataset)
    save_model(model, MODEL)
    print(f"wrote {MODEL} (validation accuracy {history['val_accuracy'][-1]:.0%}) and {data_path}")


if __name__ == "__main__":
    make()
