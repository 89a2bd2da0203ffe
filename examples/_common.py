"""What every example shares: where it writes, the small-settings switch, quiet logs, step 0 on demand.

The examples run in order (01 .. 07) from the repository root of a fresh clone; the first one
that needs the example model and data creates them (``make_example_data.py``, about a minute).

Environment:
    LSTM_DEPLOY_EXAMPLES_OUT    folder the examples write to (default ``example_out``)
    LSTM_DEPLOY_EXAMPLES_SMALL  ``1``: tiny budgets, for the test that runs every example (numbers
                                are then meaningless; it only proves the chain runs)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("LSTM_DEPLOY_EXAMPLES_OUT", "example_out"))
SMALL = os.environ.get("LSTM_DEPLOY_EXAMPLES_SMALL") == "1"
MODEL, DATA = OUT / "model.keras", OUT / "data.npz"


def quiet() -> None:
    """Keep TensorFlow's, LiteRT's and ONNX Runtime's log lines out of the examples' output."""
    from lstm_deploy import _tf

    _tf.quiet()


def example_data() -> tuple[Path, Path]:
    """``(model.keras, data.npz)`` in :data:`OUT`, created by ``make_example_data.py`` when missing."""
    if not (MODEL.exists() and DATA.exists()):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from make_example_data import make

        print(f"(first run: creating {MODEL} and {DATA} with examples/make_example_data.py)")
        make()
    return MODEL, DATA


def need(path: Path, script: str) -> Path:
    """``path``, or exit with a one-line message naming the example that writes it."""
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run python examples/{script} first (the examples run in order 01 .. 07)")
    return path
