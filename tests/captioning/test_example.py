"""The emoji captioning example end to end, smoke size: train, prune, export encoder + decoders, caption."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # slow tier: an example end to end (train, prune, export, caption)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "captioning" / "captioning.py"


def test_emoji_captioning_runs_end_to_end(tmp_path):
    rows = runpy.run_path(str(EXAMPLE))["main"](["--out", str(tmp_path), "--small"])
    by_decoder = {r["decoder"]: r for r in rows}
    assert rows[0]["decoder"] == "keras"
    for name in ("captioner.decoder.fp32.tflite", "captioner.decoder.fp32.onnx"):
        assert by_decoder[name]["agrees_with_keras"] == 1.0 and by_decoder[name]["ms_per_token"] > 0
    assert 0.0 <= by_decoder["captioner.decoder.dynamic.onnx"]["agrees_with_keras"] <= 1.0
    assert json.loads((tmp_path / "captioning.json").read_text()) == rows
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["captioner.decoder.dynamic.onnx", "captioner.decoder.fp32.onnx",
                                                              "captioner.encoder.fp32.onnx"]
