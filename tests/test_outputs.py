"""The one output rule, for every command that writes (issue 25).

Never replace a file lstm-deploy did not write, never rewrite an input, say in one line what
was refused. The commands are found from the Click command tree: a command (or an output
option) added later without a case here fails ``test_every_writing_command_has_a_case``.

Tier: fast. Refusals happen before any work (no model is loaded); the write-and-rerun tests use
a 2-unit LSTM and a benchmark of three timed calls. The prune, quantize and optimize runs
(fine-tuning, a search) are slow tier.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import click
import numpy as np
import pytest

from tests.helpers import make_npz, run_cli

#: Option strings that name where a command writes.
def is_output_option(opt: str) -> bool:
    return opt == "-o" or opt.startswith(("--out", "--report", "--save"))


def writing_commands() -> dict[str, set[str]]:
    """``{command: its output options}`` from the Click command tree."""
    from lstm_deploy.cli import cli

    ctx = click.Context(cli)
    found = {}
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        options = {o for p in command.params for o in p.opts if is_output_option(o)}
        if options:
            found[name] = options
    return found


def snapshot(*roots: Path) -> dict[str, str]:
    state = {}
    for root in roots:
        for path in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
            state[str(path)] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: ") and sum(line.startswith("Error") for line in lines) == 1, err
    assert "Traceback" not in err and "unexpected" not in lines[-1], err
    return lines[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny model, its data, an exported ONNX artifact and a recipe, outside every output folder."""
    from lstm_deploy.export import ExportConfig, export_model
    from tests.zoo import seeded

    root = tmp_path_factory.mktemp("outputs-world")
    k = seeded("tf_keras")
    model = k.Sequential([k.Input((6, 3)), k.layers.LSTM(2), k.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.save(root / "model.keras")
    make_npz(root / "data.npz", n=24)
    export_model(model, root / "art", ExportConfig(formats=("onnx",)), name="model")
    (root / "recipe.yaml").write_text(f"name: tiny\ndata: {{kind: npz, path: {root / 'data.npz'}}}\nmodel: {{path: {root / 'model.keras'}}}\n"
                                      "stages:\n  - export: {formats: [onnx], quantize: [fp32]}\n")
    return root


#: command -> (arguments with {F} = the output folder and {W} = the world, output options covered, file names that collide)
CASES = {
    "benchmark": (["benchmark", "{W}/art", "--data", "{W}/data.npz", "--runtimes", "onnxruntime", "--repeats", "3", "--warmup", "1",
                   "-o", "{F}"], {"-o", "--out"}, ["report.md", "report.html", "report.json", "report.csv", "latency_vs_metric.png"]),
    "optimize": (["optimize", "{W}/model.keras", "--data", "{W}/data.npz", "--trials", "1", "-o", "{F}"], {"-o", "--output"},
                 ["report.md", "report.html", "recipe.yaml", "model.keras", "model.dynamic.onnx", "trials/0000/model.keras"]),
    "export": (["export", "{W}/model.keras", "--onnx", "-o", "{F}"], {"-o", "--out"}, ["model.fp32.onnx", "model.fp32.onnx.json"]),
    "prune": (["prune", "{W}/model.keras", "--data", "{W}/data.npz", "--steps", "1", "-o", "{F}/small.keras", "--report", "{F}/prune.json"],
              {"-o", "--output", "--report"}, ["small.keras", "prune.json"]),
    "quantize": (["quantize", "{W}/model.keras", "--data", "{W}/data.npz", "--steps", "0", "-o", "{F}/qat.keras", "--report", "{F}/qat.json"],
                 {"-o", "--output", "--report"}, ["qat.keras", "qat.json"]),
    "run": (["run", "{W}/recipe.yaml", "--save-recipe", "{F}/mine.yaml", "-o", "{F}/run"], {"-o", "--out", "--save-recipe"},
            ["mine.yaml", "run/report.md"]),
}


def _args(case: str, world: Path, folder: Path) -> list[str]:
    return [a.replace("{W}", str(world)).replace("{F}", str(folder)) for a in CASES[case][0]]


def test_every_writing_command_has_a_case():
    """Found from the command tree: a new command (or output option) must add its case below, or this fails."""
    found = writing_commands()
    assert {"benchmark", "optimize", "export", "prune", "quantize", "run"} <= set(found)  # the walk itself works
    missing = {name: options - CASES[name][1] if name in CASES else options for name, options in found.items()
               if name not in CASES or not options <= CASES[name][1]}
    assert not missing, f"commands that write without a case in CASES: {missing}"


@pytest.mark.parametrize("case,name", [(case, name) for case, (_, _, names) in CASES.items() for name in names])
def test_a_user_file_named_like_an_output_is_refused_untouched(world, tmp_path, capsys, case, name):
    folder = tmp_path / "mine"
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"my own work, not lstm-deploy's\n")
    (folder / "notes.txt").write_text("keep me\n")
    before = snapshot(folder, world)
    code, out, err = run_cli(_args(case, world, folder), capsys)
    assert code == 2, (code, out, err)
    line = one_line(err)
    assert Path(name).name in line or "was not made by lstm-deploy run" in line, line
    assert snapshot(folder, world) == before  # nothing written, nothing replaced, inputs byte-identical


def test_optimize_never_rewrites_its_input_model(world, tmp_path, capsys):
    """``optimize model.keras -o .`` would save the winner as ./model.keras: refused before any work, even if lstm-deploy wrote it."""
    from lstm_deploy.paths import record_written

    folder = tmp_path / "proj"
    folder.mkdir()
    shutil.copy(world / "model.keras", folder / "model.keras")
    record_written(folder, [folder / "model.keras"])  # lstm-deploy's own file, yet an input now
    before = snapshot(folder)
    code, _, err = run_cli(["optimize", folder / "model.keras", "--data", world / "data.npz", "--trials", "1", "-o", folder], capsys)
    assert code == 2 and "would overwrite the input model" in one_line(err)
    assert snapshot(folder) == before


@pytest.mark.parametrize("case", ["export", "benchmark", "run", pytest.param("prune", marks=pytest.mark.slow),
                                  pytest.param("quantize", marks=pytest.mark.slow)])
def test_writes_beside_user_files_replaces_only_its_own(world, tmp_path, capsys, case):
    """Into a folder of user files: they stay; a rerun replaces lstm-deploy's own outputs; one the user edited is refused."""
    from lstm_deploy.paths import LEDGER

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me\n")
    (folder / "report.txt").write_text("my report\n")
    args = _args(case, world, folder)
    if case == "run":
        args = args[:args.index("-o")]  # --save-recipe alone: writes the file and stops
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    ledger = json.loads((folder / LEDGER).read_text())["files"]
    ours = sorted(ledger)
    assert ours and "notes.txt" not in ours and all((folder / p).is_file() for p in ours)
    code, _, err = run_cli(args, capsys)  # the rerun replaces what lstm-deploy wrote
    assert code == 0, err
    assert (folder / "notes.txt").read_text() == "keep me\n" and (folder / "report.txt").read_text() == "my report\n"
    edited = folder / ours[0]
    edited.write_bytes(edited.read_bytes() + b"\n")  # now partly the user's
    before = snapshot(folder)
    code, _, err = run_cli(args, capsys)
    assert code == 2 and ours[0] in one_line(err) and "changed since" in err
    assert snapshot(folder) == before


def test_the_ledger_is_checked_by_content(tmp_path):
    """A forged or stale ledger entry does not make a file lstm-deploy's: the SHA-256 must match."""
    from lstm_deploy.errors import InputError
    from lstm_deploy.paths import LEDGER, check_replaceable, record_written, written_by_lstm_deploy

    (tmp_path / "report.md").write_text("ours")
    record_written(tmp_path, [tmp_path / "report.md"])
    assert written_by_lstm_deploy(tmp_path / "report.md")
    check_replaceable(tmp_path, ("report.md",), "-o")
    (tmp_path / "report.md").write_text("theirs")
    assert not written_by_lstm_deploy(tmp_path / "report.md")
    with pytest.raises(InputError, match="report.md exists and lstm-deploy did not write it"):
        check_replaceable(tmp_path, ("report.md",), "-o")
    (tmp_path / LEDGER).write_text("[not a ledger")
    assert not written_by_lstm_deploy(tmp_path / "report.md")
    (tmp_path / "folder.md").mkdir()
    with pytest.raises(InputError, match="folder.md is an existing folder"):
        check_replaceable(tmp_path, ("folder.md",), "-o")
    (tmp_path / "link.md").symlink_to(tmp_path / "report.md")
    with pytest.raises(InputError, match="link.md is a symbolic link"):
        check_replaceable(tmp_path, ("*.md",), "-o")
    assert np.array_equal(np.frombuffer((tmp_path / "report.md").read_bytes(), np.uint8), np.frombuffer(b"theirs", np.uint8))


@pytest.mark.slow
def test_optimize_beside_user_files_with_a_new_study_database(world, tmp_path, capsys):
    """``optimize -o .`` in a project folder: the user's files stay, the study file it creates is recognised on the rerun."""
    import sqlite3

    from lstm_deploy.optimize.storage import MARKER_TABLE

    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me\n")
    (folder / "report.txt").write_text("my report\n")
    args = ["optimize", world / "model.keras", "--data", world / "data.npz", "--trials", "1", "--finetune-steps", "2", "--format", "onnx",
            "--storage", f"sqlite:///{folder / 'study.db'}", "-o", folder]
    for _ in range(2):  # the rerun resumes the study it made and replaces its own outputs
        code, _, err = run_cli(args, capsys)
        assert code == 0, err
    con = sqlite3.connect(folder / "study.db")
    assert con.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone() == (1,)
    con.close()
    assert (folder / "notes.txt").read_text() == "keep me\n" and (folder / "report.txt").read_text() == "my report\n"
    assert (folder / "report.md").is_file() and (folder / "model.keras").is_file()
