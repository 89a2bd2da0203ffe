"""Step 5: run an artifact the way an app does -- no TensorFlow, state resets handled.

    python examples/05_runtime.py
"""

import sys

import numpy as np

from lstm_deploy.runtime import Model

if __name__ == "__main__":
    data = np.load("example_out/data.npz")
    model = Model.load("example_out/artifacts/qat.fp32.tflite")
    probs = model.predict(data["x_test"])
    print(f"accuracy {(probs.argmax(-1) == data['y_test']).mean():.3f}; tensorflow imported: {'tensorflow' in sys.modules}")
