"""CLI basics: fast --help without TensorFlow, one-line errors with exit codes, inspect output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lstm_deploy.cli import main
from lstm_deploy.errors import ModelLoadError
from tests.helpers import run_cli

from tests.zoo import ZOO


def test_help_does_not_import_tensorflow():
    code = "import sys; from lstm_deploy.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit: pass\nprint('tensorflow' in sys.modules, 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().endswith("False False"), result.stdout
    assert "inspect" in result.stdout


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, keras3):
    path = tmp_path_factory.mktemp("cli") / "model.keras"
    ZOO["stacked"](keras3).save(path)
    return path


def test_inspect_json(capsys, model_file):
    code, out, err = run_cli(["inspect", str(model_file), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["params"] == 4 * 5 * (3 + 5 + 1) + 4 * 4 * (5 + 4 + 1) + 4 * 3 + 3  # LSTM(5) + LSTM(4, no unit_forget_bias) + Dense(3)
    assert data["flavour"] == "keras3"


def test_inspect_table(capsys, model_file):
    code, out, _ = run_cli(["inspect", str(model_file)], capsys)
    assert code == 0 and "MACs/sequence" in out and "LSTM(5)" in out


@pytest.mark.parametrize(
    "content,expected",
    [(b"garbage", "not a valid .keras file"), (None, "does not exist")],
)
def test_bad_model_is_one_line_exit_2(capsys, tmp_path, content, expected):
    path = tmp_path / "m.keras"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run_cli(["inspect", str(path)], capsys)
    assert code == 2
    assert err.startswith("Error: ") and expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unsupported_layer_cli_message(capsys, tmp_path, keras3):
    L = keras3.layers
    path = tmp_path / "conv3d.keras"
    keras3.Sequential([keras3.Input((6, 3, 2, 1)), L.Conv3D(2, 2, name="conv3d"), L.Flatten(), L.Dense(1)]).save(path)
    code, _, err = run_cli(["inspect", str(path)], capsys)
    assert code == 2 and "layer 0 'conv3d' (Conv3D) is not supported; supported layers:" in err


def test_unknown_command_and_debug_flag(capsys, tmp_path):
    code, _, err = run_cli(["frobnicate"], capsys)
    assert code == 2 and "No such command" in err
    with pytest.raises(ModelLoadError, match=r"missing\.keras does not exist"):  # --debug: the library error itself, traceback and all
        main(["--debug", "inspect", str(tmp_path / "missing.keras")])
    with pytest.raises(ModelLoadError, match=r"missing\.keras does not exist"):  # also after the command
        main(["inspect", str(tmp_path / "missing.keras"), "--debug"])


def test_global_flags_before_or_after_the_command(capsys, model_file):
    from lstm_deploy.cli import hoist_global_flags

    assert hoist_global_flags(["export", "m.keras", "-vv", "--quiet", "-o", "out", "--", "-v"]) == [
        "-vv", "--quiet", "export", "m.keras", "-o", "out", "--", "-v"]
    assert hoist_global_flags(["prune", "m.keras", "-q", "--name", "x"]) == ["prune", "m.keras", "-q", "--name", "x"]  # prune's own -q
    for args in (["-v", "inspect", model_file], ["inspect", model_file, "-v"], ["inspect", "--quiet", model_file]):
        code, out, err = run_cli(args, capsys)
        assert code == 0 and "No such option" not in err, err
