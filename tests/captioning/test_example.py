"""The emoji captioning example end to end, smoke size: train, prune, export encoder + decoders, caption."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "captioning" / "captioning.py"


def test_emoji_captioning_runs_end_to_end(tmp_path):
    results = runpy.run_path(str(EXAMPLE))["main"](["--out", str(tmp_path), "--small"])
    assert results["emoji"] == {"train": 40, "test": 10}
    for key in ("tflite_fp32", "onnx_fp32"):
        assert results[key]["agrees_with_keras"] == 1.0 and results[key]["ms_per_token"] > 0
    assert 0.0 <= results["onnx_dynamic"]["agrees_with_keras"] <= 1.0
    assert json.loads((tmp_path / "captioning.json").read_text()) == results
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["captioner.decoder.dynamic.onnx", "captioner.decoder.fp32.onnx",
                                                              "captioner.encoder.fp32.onnx"]
