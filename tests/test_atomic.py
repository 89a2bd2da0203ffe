"""atomic.py under failure: a write that dies half way leaves the old file (or nothing) in place.

The failures are real ones: an OSError raised by the writer after part of the data went
out, a Keras ``save`` that fails after it started its archive, and a writer process
killed with SIGKILL in the middle of its write.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_deploy.atomic import atomic_path, atomic_write_bytes
from lstm_deploy.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _debris(folder: Path, target: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(f".{target}.")]


@pytest.mark.parametrize("existing", [b"old artifact", None])
def test_error_half_way_keeps_the_old_file_and_cleans_up(tmp_path, existing):
    target = tmp_path / "model.fp32.tflite"
    if existing is not None:
        target.write_bytes(existing)
    with pytest.raises(OSError, match="No space left"):
        with atomic_path(target) as tmp:
            assert tmp.parent.parent == tmp_path and tmp.suffixes == [".fp32", ".tflite"]  # beside the target, same suffix
            with open(tmp, "wb") as fh:
                fh.write(b"\x00" * 4096)  # part of the new artifact is on disk ...
                raise OSError(28, "No space left on device")  # ... when the disk fills up
    if existing is None:
        assert not target.exists()
    else:
        assert target.read_bytes() == existing
    assert _debris(tmp_path, target.name) == []


def test_nothing_written_is_an_error_not_an_empty_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("{}")
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(target):
            pass
    assert target.read_text() == "{}" and _debris(tmp_path, target.name) == []


def test_directory_target_is_written_whole_or_not_at_all(tmp_path):
    target = tmp_path / "savedmodel"
    with pytest.raises(RuntimeError, match="converter crashed"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "saved_model.pb").write_bytes(b"new, half")
            raise RuntimeError("converter crashed")
    assert not target.exists() and _debris(tmp_path, target.name) == []
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "variables.index").write_bytes(b"new")
    assert [p.name for p in target.iterdir()] == ["variables.index"]
    assert _debris(tmp_path, target.name) == []


def test_an_existing_folder_is_never_replaced(tmp_path):
    """The folder may be the user's (issue 11): refused before anything is written, left as it was."""
    target = tmp_path / "savedmodel"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"old")
    with pytest.raises(InputError, match="existing folder"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
    assert [p.name for p in target.iterdir()] == ["saved_model.pb"] and (target / "saved_model.pb").read_bytes() == b"old"
    assert _debris(tmp_path, target.name) == []


def test_keras_save_failing_mid_archive_keeps_the_old_model(tmp_path, keras3):
    """save_model: Keras has already written config.json into the .keras zip when a layer's weights fail to save."""
    from lstm_deploy.load.modelio import load_model, save_model

    L = keras3.layers

    class FailingDense(L.Dense):
        def save_own_variables(self, store):
            raise OSError(28, "No space left on device")

    good = keras3.Sequential([keras3.Input((6, 3)), L.LSTM(4), L.Dense(2)])
    target = save_model(good, tmp_path / "model.keras")
    before = target.read_bytes()
    bad = keras3.Sequential([keras3.Input((6, 3)), L.LSTM(4), FailingDense(2)])
    with pytest.raises(OSError, match="No space left"):
        save_model(bad, target)
    assert target.read_bytes() == before
    assert _debris(tmp_path, target.name) == []
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(load_model(target).model(x)), np.asarray(good(x)), atol=1e-6)


_KILLED_WRITER = """
import sys, time
from lstm_deploy.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as fh:
        fh.write(b"n" * (1 << 20))
        fh.flush()
        print("half written", flush=True)
        time.sleep(60)  # killed here
        fh.write(b"n" * (1 << 20))
"""


def test_writer_killed_mid_write_leaves_the_old_file(tmp_path):
    """SIGKILL runs no cleanup: the old file must still be the one under the target name."""
    target = tmp_path / "model.onnx"
    atomic_write_bytes(target, b"old model")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "half written"
        (partial,) = [p for d in _debris(tmp_path, target.name) for p in d.iterdir()]
        assert partial.stat().st_size == 1 << 20  # the new data really was half way out
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert target.read_bytes() == b"old model"
    atomic_write_bytes(target, b"new model")  # the debris of the killed write does not get in the way
    assert target.read_bytes() == b"new model"
