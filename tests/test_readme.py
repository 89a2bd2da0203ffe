"""The README's code runs as written: every ```bash / ```sh / ```python block, in document order, in one folder.

Slow tier (`make test-slow`): the README's "your own model" commands train nothing but export,
benchmark and compress a tiny model for real (a few minutes on 2 cores).

The folder holds what a reader brings: a small trained Keras 3 ``model.keras`` and a ``data.npz``
of the README's ``.npz`` contract. The repository's virtualenv comes first on ``PATH`` (so
``lstm-deploy`` and ``python`` are this checkout's) and ``PYTHONPATH`` is the repository root.
A block opts out only with ``<!-- readme-test: skip: REASON -->`` on the line right before it;
a marker without a reason, or one that names no block, fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUN = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python", "py": "python"}
MARKER = re.compile(r"<!--\s*readme-test:(.*?)-->", re.S)
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
BLOCK_TIMEOUT_S = 900


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    code: str
    skip: str | None  # the reason, when the block opts out


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block with the skip reason of the marker right before it; bad markers raise ValueError."""
    blocks, used = [], set()
    for fence in FENCE.finditer(text):
        before = text[: fence.start()].rstrip().splitlines()
        skip = None
        last = before[-1].strip() if before else ""
        marker = MARKER.fullmatch(last)
        if marker:
            body = marker.group(1).strip()
            reason = body.removeprefix("skip:").strip() if body.startswith("skip:") else None
            if not reason:
                raise ValueError(f"README line {len(before)}: {last!r} must read '<!-- readme-test: skip: REASON -->' with a reason")
            skip = reason
            used.add(len(before))
        blocks.append(Block(text.count("\n", 0, fence.start()) + 1, fence.group(1).lower(), fence.group(2), skip))
    for match in MARKER.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if line not in used:
            raise ValueError(f"README line {line}: {match.group(0)!r} is not on the line right before a code block")
    return blocks


def test_marker_rules():
    """The parser the README test trusts: reasons are required, markers must sit on a block."""
    good = "text\n<!-- readme-test: skip: starts a server -->\n```bash\nserve\n```\n\n```python\nprint(1)\n```\n"
    blocks = readme_blocks(good)
    assert [(b.lang, b.skip) for b in blocks] == [("bash", "starts a server"), ("python", None)]
    assert blocks[1].code == "print(1)\n" and blocks[0].line == 3
    with pytest.raises(ValueError, match="with a reason"):
        readme_blocks("<!-- readme-test: skip: -->\n```bash\nx\n```\n")
    with pytest.raises(ValueError, match="with a reason"):
        readme_blocks("<!-- readme-test: skip -->\n```bash\nx\n```\n")
    with pytest.raises(ValueError, match="right before a code block"):
        readme_blocks("<!-- readme-test: skip: why -->\n\nprose\n\n```bash\nx\n```\n")


def _reader_files(folder: Path) -> None:
    """What a reader brings: a small trained Keras 3 LSTM classifier and its data, per the .npz contract."""
    import keras

    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, size=n)
        x = rng.normal(0, 0.5, size=(n, 12, 3)).astype(np.float32)
        x[np.arange(n), :, y] += 1.0  # the class decides which channel is raised
        return x, y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = split(120), split(40)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 3)), keras.layers.LSTM(8), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(x_test, y_test, verbose=0)[1] >= 0.8, "the reader's model should be a trained one"
    model.save(folder / "model.keras")
    np.savez(folder / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def test_readme_blocks_run_as_written(tmp_path):
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    runnable = [b for b in blocks if b.lang in RUN]
    assert sum(b.skip is None for b in runnable) >= 3, "the README should have code this test runs"

    work, scripts = tmp_path / "reader", tmp_path / "blocks"
    work.mkdir()
    scripts.mkdir()
    _reader_files(work)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    for i, block in enumerate(runnable):
        if block.skip:
            continue
        kind = RUN[block.lang]
        script = scripts / f"{i:02d}_line{block.line}.{'py' if kind == 'python' else 'sh'}"
        script.write_text(block.code, encoding="utf-8")
        command = [sys.executable, str(script)] if kind == "python" else ["bash", "-e", "-o", "pipefail", str(script)]
        try:
            proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"README block at line {block.line} ran past {BLOCK_TIMEOUT_S} s:\n{block.code}\n--- output ---\n{exc.output}")
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr)[-6000:]
            pytest.fail(f"README block at line {block.line} ({block.lang}) exited {proc.returncode}:\n{block.code}\n--- output ---\n{output}")

    # A block that opts out but names an output of a run made here (the report to open, the artifact
    # to serve) names a file that exists.
    named = {m for b in runnable if b.skip for m in re.findall(r"\bruns/[\w-]+/[\w./-]+\.\w+", b.code)}
    ours = {p for p in named if (work / Path(p).parts[0] / Path(p).parts[1]).is_dir()}
    assert ours, f"no skipped block names an output of the runs made here (found {sorted(named)})"
    missing = sorted(p for p in ours if not (work / p).is_file())
    assert missing == [], f"README's skipped blocks name files the runnable blocks did not make: {missing}"
