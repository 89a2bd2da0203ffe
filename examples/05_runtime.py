"""Step 5: run an artifact the way an app does -- no TensorFlow, state resets handled.

Loads step 04's fp32 TFLite artifact with :class:`lstm_deploy.runtime.Model` (LiteRT only).

    python examples/05_runtime.py
"""

import sys

from _common import OUT, need

if __name__ == "__main__":
    import numpy as np

    from lstm_deploy.runtime import Model

    artifact = need(OUT / "artifacts" / "qat.fp32.tflite", "04_export.py")
    data = np.load(OUT / "data.npz")
    model = Model.load(artifact)
    probs = model.predict(data["x_test"])
    labels = model.manifest.get("labels") or [str(i) for i in range(probs.shape[-1])]
    print(f"{artifact.name}: accuracy {(probs.argmax(-1) == data['y_test']).mean():.1%} on {len(probs)} test sequences; "
          f"first prediction: {labels[int(probs[0].argmax())]} ({probs[0].max():.0%}); "
          f"TensorFlow imported: {'tensorflow' in sys.modules}")
