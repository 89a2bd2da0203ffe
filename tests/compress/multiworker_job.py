"""One worker of tests/compress/test_multiworker.py: fine-tune a model the way prune and quantize do, save the results.

Run as ``python tests/compress/multiworker_job.py MODEL DATA OUT [STAGES]`` (STAGES: comma-separated, default all) with or without ``TF_CONFIG``. Writes
``OUT/result.json``: the strategy each stage trained under and, per stage, the fine-tuned model's
outputs on x_test.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import numpy as np


def main(model_path: str, data_path: str, out: str, only: str = "") -> None:
    from lstm_deploy.compress.distribute import describe_strategy, training_strategy
    from lstm_deploy.compress.prune.api import prune_model
    from lstm_deploy.compress.prune.config import PruneConfig
    from lstm_deploy.compress.qat.api import quantize_aware_train
    from lstm_deploy.compress.qat.config import QatConfig
    from lstm_deploy.load.dataset import load_data
    from lstm_deploy.load.flavours import predict
    from lstm_deploy.load.modelio import load_model

    model = load_model(model_path).model
    ds = load_data(data_path)
    result: dict = {"strategy": describe_strategy(training_strategy()), "outputs": {}}
    stages = {
        "units": lambda: prune_model(model, ds, PruneConfig(method="units", sparsity=0.5, steps=16, seed=0), measure_latency=False).model,
        "magnitude": lambda: prune_model(model, ds, PruneConfig(method="magnitude", sparsity=0.5, steps=16, seed=0), measure_latency=False).model,
        "qat": lambda: quantize_aware_train(model, ds, QatConfig(steps=8, seed=0)).model,
    }
    for name, run in stages.items():
        if only and name not in only.split(","):
            continue
        try:
            result["outputs"][name] = np.asarray(predict(run(), ds.x_test), np.float64).tolist()
        except Exception as exc:  # reported to the test, which names the stage
            traceback.print_exc()
            result["outputs"][name] = f"{type(exc).__name__}: {exc}"[:2000]
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:5])
