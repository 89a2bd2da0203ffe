"""Hostile input runs no code and destroys nothing (issue 11).

Every case is built here, in the test: Lambda layers that write a marker file (in every model
format), custom objects, recipe tricks, path tricks, YAML bombs, .npz header bombs, bad labels.
Each asserts the exit code, a one-line message, that the inputs are byte-identical afterwards and
that nothing outside the output folder changed. Positive controls (``--unsafe``) prove the
Lambda really would run, so "the marker never appears" means something.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import child_process, run_cli

LAMBDA_FORMATS = ("keras3.keras", "keras3.h5", "tf_keras.keras", "tf_keras.h5", "tf_keras_savedmodel")


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with its content hash: the before/after of a case."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        state[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def one_error_line(err: str) -> str:
    """The error is the last stderr line and the only one (progress lines such as "loading model" may precede it)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: ") and sum(line.startswith("Error") for line in lines) == 1, err
    assert "Traceback" not in err and "unexpected" not in lines[-1], err
    return lines[-1]


def _custom_activation(x):
    return x


@pytest.fixture(scope="module")
def world(tmp_path_factory, keras3, tf_keras):
    """A workspace: Lambda models that write ``marker`` in every format, custom objects, a clean model, data."""
    root = tmp_path_factory.mktemp("hostile")
    marker = root / "PWNED"
    # A real lambda (Keras serializes its bytecode); building and saving call it, so the marker is removed below.
    writer = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]")
    for name, k in (("keras3", keras3), ("tf_keras", tf_keras)):
        model = k.Sequential([k.Input((6, 3)), k.layers.Lambda(writer), k.layers.LSTM(2), k.layers.Dense(3, activation="softmax")])
        model.save(root / f"{name}.keras")
        model.save(root / f"{name}.h5")
        if name == "tf_keras":
            model.save(root / "tf_keras_savedmodel")

    @keras3.saving.register_keras_serializable(package="hostile")
    class Custom(keras3.layers.Layer):
        def call(self, x):
            return x

    keras3.Sequential([keras3.Input((6, 3)), Custom(), keras3.layers.LSTM(2)]).save(root / "custom_layer.keras")
    tf_keras.Sequential([tf_keras.Input((6, 3)), tf_keras.layers.LSTM(2, activation=_custom_activation)]).save(root / "custom_fn.h5")
    inp = tf_keras.Input((6, 3))
    import tensorflow as tf

    tf_keras.Model(inp, tf_keras.layers.LSTM(2)(tf.math.multiply(inp, 2.0))).save(root / "tfop.h5")
    clean = keras3.Sequential([keras3.Input((6, 3)), keras3.layers.LSTM(4), keras3.layers.Dense(4, activation="softmax")])
    clean.save(root / "model.keras")
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(size=(16, 6, 3)).astype("float32"), "y_train": rng.integers(0, 4, 16),
              "x_test": rng.normal(size=(8, 6, 3)).astype("float32"), "y_test": rng.integers(0, 4, 8)}
    np.savez(root / "data.npz", **arrays)
    marker.unlink(missing_ok=True)
    return root, marker, arrays


@pytest.fixture
def ws(world, tmp_path, monkeypatch):
    """The shared workspace, with the current folder set to a fresh, empty scratch folder."""
    root, marker, arrays = world
    marker.unlink(missing_ok=True)
    monkeypatch.chdir(tmp_path)
    return root, marker, arrays, tmp_path


def _check(ws, args, capsys, code=2, allowed=()):
    """Run the CLI; assert exit ``code``, one error line, no Lambda ran, only ``allowed`` paths changed."""
    root, marker, _, scratch = ws
    before_root, before_scratch = snapshot(root), snapshot(scratch)
    got, out, err = run_cli(args, capsys)
    assert got == code, (got, out, err)
    line = one_error_line(err)
    assert not marker.exists(), "code from the model file ran"
    diff = changed(before_root, snapshot(root)) | {f"./{p}" for p in changed(before_scratch, snapshot(scratch))}
    assert {p for p in diff if not any(p.startswith(a) for a in allowed)} == set(), diff
    return line


# ---------------------------------------------------------------- model files


@pytest.mark.parametrize("name", LAMBDA_FORMATS)
def test_lambda_in_every_format_never_runs(ws, capsys, name):
    root = ws[0]
    line = _check(ws, ["inspect", root / name], capsys)
    assert "Lambda layer" in line and "--unsafe" in line and "nothing was loaded" in line


def test_savedmodel_lambda_refused_by_export_before_loading(ws, capsys):
    root, _, _, scratch = ws
    line = _check(ws, ["export", root / "tf_keras_savedmodel", "--data", root / "data.npz", "-o", scratch / "out"], capsys)
    assert "Lambda layer" in line and not (scratch / "out").exists()


def test_unsafe_on_the_command_line_does_run_it(ws, capsys):
    """Positive control: the marker Lambda is live, so the refusals above are real."""
    root, marker = ws[0], ws[1]
    code, _, err = run_cli(["inspect", "--unsafe", root / "tf_keras_savedmodel"], capsys)
    assert marker.exists(), "the Lambda should run with --unsafe"
    assert code == 2 and "(Lambda) is not supported" in err


@pytest.mark.parametrize(
    "name,found",
    [("custom_layer.keras", "custom object 'hostile>Custom'"), ("custom_fn.h5", "_custom_activation (outside the Keras layers"),
     ("tfop.h5", "TFOpLambda layer 'tf.math.multiply'")],
)
def test_custom_objects_and_functions_by_name_are_refused(ws, capsys, name, found):
    assert found in _check(ws, ["inspect", ws[0] / name], capsys)


def test_savedmodel_graph_ops_that_touch_files_are_found(tmp_path):
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    from lstm_deploy.load.scan import graph_findings

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            tf.io.write_file(str(tmp_path / "PWNED"), "x")
            return x

    tf.saved_model.save(Writer(), str(tmp_path / "sm"))
    saved = saved_model_pb2.SavedModel.FromString((tmp_path / "sm" / "saved_model.pb").read_bytes())
    found = graph_findings(saved.meta_graphs[0])
    assert any("WriteFile" in f for f in found) and not any("SaveV2" in f for f in found), found  # the saver's own ops pass
    assert not (tmp_path / "PWNED").exists()


# ---------------------------------------------------------------- recipes


def _recipe(path: Path, **fields) -> Path:
    base = {"name": "hostile", "data": {"kind": "npz", "path": "data.npz"}, "model": {"path": "tf_keras.keras"}, "stages": [{"export": {}}]}
    path.write_text(yaml.safe_dump({**base, **fields}))
    return path


def test_recipe_cannot_switch_on_unsafe(ws, capsys):
    root, _, _, scratch = ws
    recipe = _recipe(root / "unsafe.yaml", model={"path": "tf_keras.keras", "unsafe": True})
    try:
        line = _check(ws, ["run", recipe, "-o", scratch / "out"], capsys, allowed=("unsafe.yaml",))
    finally:
        recipe.unlink()
    assert "cannot switch on unsafe loading" in line and "--unsafe" in line and not (scratch / "out").exists()


def test_run_unsafe_flag_loads_then_says_stages_cannot_use_it(ws, capsys):
    root, marker, _, scratch = ws
    recipe = _recipe(root / "lambda.yaml")
    try:
        code, _, err = run_cli(["run", "--unsafe", recipe, "-o", scratch / "out"], capsys)
    finally:
        recipe.unlink()
    assert marker.exists(), "run --unsafe should load the model, running its Lambda"
    assert code == 2 and "(Lambda) is not supported" in one_error_line(err)
    assert (scratch / "out" / "data" / "stage.json").exists() and not (scratch / "out" / "model").exists()  # the failed step left nothing


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "x" * 101])
def test_recipe_name_is_a_name(ws, capsys, name):
    root = ws[0]
    recipe = _recipe(root / "named.yaml", name=name)
    try:
        line = _check(ws, ["run", recipe], capsys, allowed=("named.yaml",))
    finally:
        recipe.unlink()
    assert line.startswith(f"Error: {recipe}: name: expected ")


BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")
) + "name: bomb\ndata: {kind: npz, path: data.npz}\nmodel: {path: model.keras}\nstages: *i\n"
MERGE_BOMB = "a: &a {k: 1, l: 2}\n" + "".join(
    f"{n}: &{n} {{<<: [{', '.join([f'*{p}'] * 10)}]}}\n" for p, n in zip("abcdefgh", "bcdefghi")
)


@pytest.mark.parametrize("text", [BOMB, MERGE_BOMB, "name: x\ndata: &d [*d]\n"], ids=["billion-laughs", "merge-keys", "recursive"])
def test_yaml_bombs_are_refused_fast(ws, capsys, text):
    root = ws[0]
    (root / "bomb.yaml").write_text(text)
    start = time.perf_counter()
    try:
        line = _check(ws, ["run", root / "bomb.yaml", "--dry-run"], capsys, allowed=("bomb.yaml",))
    finally:
        (root / "bomb.yaml").unlink()
    assert "expand to more than" in line and time.perf_counter() - start < 10


def test_recipe_errors_never_quote_unbounded_values(ws, capsys):
    root = ws[0]
    recipe = _recipe(root / "long.yaml", stages=[{"export": {"formats": ["x" * 100_000]}}, {"x" * 50_000: {}}])
    try:
        line = _check(ws, ["run", recipe, "--dry-run"], capsys, allowed=("long.yaml",))
    finally:
        recipe.unlink()
    assert len(line) < 1000


# ---------------------------------------------------------------- output paths


@pytest.mark.parametrize("mine", ["data/mine.txt", "report.md"])
def test_run_into_a_folder_it_did_not_create_is_refused(ws, capsys, mine):
    """``-o .``: a step folder of the user's (``data/``) or a file a run would overwrite (``report.md``)."""
    root, _, _, scratch = ws
    (scratch / mine).parent.mkdir(exist_ok=True)
    (scratch / mine).write_text("user data")
    recipe = _recipe(root / "here.yaml", model={"path": "model.keras"}, stages=[{"export": {}}, {"report": {}}])
    try:
        line = _check(ws, ["run", recipe, "-o", "."], capsys)
    finally:
        recipe.unlink()
    assert "was not made by lstm-deploy run" in line and (scratch / mine).read_text() == "user data"


def test_run_refuses_inputs_inside_its_output_folder(ws, capsys):
    root = ws[0]
    recipe = _recipe(root / "inside.yaml", model={"path": "model.keras"})
    try:
        line = _check(ws, ["run", recipe, "-o", root], capsys, allowed=("inside.yaml",))
    finally:
        recipe.unlink()
    assert "is inside the output folder" in line


def _prune(root: Path, *extra) -> list:
    return ["prune", root / "model.keras", "--data", root / "data.npz", "--sparsity", "0.5", *extra]


@pytest.mark.parametrize(
    "extra,message",
    [
        (("--report", "{root}/data.npz", "-o", "out.keras"), "would overwrite the input data"),
        (("--report", "{scratch}/keep", "-o", "out.keras"), "is an existing folder"),
        (("--report", "r.json", "-o", "{root}/model.keras"), "would overwrite the input model"),
        (("-o", "out.txt"), "expected a file name ending in .keras or .h5"),
        (("-o", "{scratch}/keep"), "is an existing folder"),
        (("-o", "{scratch}/keep/f.txt/m.keras"), "is a file, so no folder can be created under it"),
        (("-o", "x" * 300 + ".keras"), "bytes; at most"),
        (("--report", "same.keras", "-o", "same.keras"), "give each output its own file"),
    ],
)
def test_prune_output_paths_fail_before_any_work(ws, capsys, extra, message):
    root, _, _, scratch = ws
    (scratch / "keep").mkdir()
    (scratch / "keep" / "f.txt").write_text("mine")
    args = [str(a).format(root=root, scratch=scratch) for a in _prune(root, *extra)]
    start = time.perf_counter()
    assert message in _check(ws, args, capsys)
    assert time.perf_counter() - start < 30  # no fine-tuning happened
    assert (scratch / "keep" / "f.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "extra,message",
    [(("--name", "../x", "-o", "out"), "--name '../x': expected a plain name"), (("-o", "{root}/data.npz"), "is a file"),
     (("-o", "{root}/tf_keras_savedmodel/out"), "is inside the input model")],
)
def test_export_output_paths(ws, capsys, extra, message):
    root = ws[0]
    args = ["export", root / "model.keras", "--data", root / "data.npz", *[str(a).format(root=root) for a in extra]]
    if "savedmodel" in str(extra):
        args[1] = root / "tf_keras_savedmodel"
    assert message in _check(ws, args, capsys)


def test_save_recipe_cannot_overwrite_the_recipe(ws, capsys):
    root = ws[0]
    recipe = _recipe(root / "keep.yaml", model={"path": "model.keras"})
    try:
        line = _check(ws, ["run", recipe, "--dry-run", "--save-recipe", recipe], capsys, allowed=("keep.yaml",))
    finally:
        recipe.unlink()
    assert "would overwrite the input recipe" in line


# ---------------------------------------------------------------- data files


def _npz_with(path: Path, arrays: dict, extra: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.save(buf, value)
            zf.writestr(f"{key}.npy", buf.getvalue())
        for name, data in extra.items():
            zf.writestr(name, data)
    return path


def _bomb_header(shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 64


@pytest.mark.parametrize(
    "case,message",
    [
        ("header-bomb", "header declares shape (1000000000000, 6, 3) float32 (65.5 TiB) but the archive member holds 64 bytes"),
        ("not-npy", "member 'evil.txt' is not an .npy array"),
        ("labels-out-of-range", "y_test holds class labels 6..9, but the model has 4 classes (0..3"),
        ("float-labels", "holds float values, so they were read as regression targets"),
    ],
)
@pytest.mark.parametrize("command", ["export", "prune"])
def test_hostile_data_is_refused_with_one_line(ws, capsys, case, message, command):
    root, _, arrays, scratch = ws
    data = dict(arrays)
    extra: dict[str, bytes] = {}
    if case == "header-bomb":
        del data["x_train"]
        extra["x_train.npy"] = _bomb_header((10**12, 6, 3))
    elif case == "not-npy":
        extra["evil.txt"] = b"hello"
    elif case == "labels-out-of-range":
        data["y_test"] = np.arange(6, 10).repeat(2)
    else:
        data["y_train"], data["y_test"] = arrays["y_train"] + 0.5, arrays["y_test"] + 0.5
    path = _npz_with(scratch / f"{case}.npz", data, extra)
    args = (["export", root / "model.keras", "--data", path, "-o", scratch / "out"] if command == "export"
            else ["prune", root / "model.keras", "--data", path, "--sparsity", "0.5", "-o", scratch / "p.keras"])
    assert message in _check(ws, args, capsys)
    assert not (scratch / "out").exists() and not (scratch / "p.keras").exists()


def test_data_limit_is_checked_before_decompressing(tmp_path):
    from lstm_deploy.errors import DataError
    from lstm_deploy.load.dataset import load_data

    zeros = np.zeros((4096, 6, 3), "float32")  # 288 KiB of zeros compress to almost nothing: a small zip bomb
    np.savez_compressed(tmp_path / "z.npz", x_train=zeros, y_train=np.zeros(4096, int), x_test=zeros[:4], y_test=np.zeros(4, int))
    with pytest.raises(DataError, match="over the limit of 100.0 KiB"):
        load_data(tmp_path / "z.npz", max_bytes=100 << 10)
    assert load_data(tmp_path / "z.npz").x_train.shape == (4096, 6, 3)


# ---------------------------------------------------------------- exit codes


def test_ctrl_c_exits_130_and_leaves_no_half_written_step(world, tmp_path):
    root = world[0]
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(yaml.safe_dump({"name": "slow", "data": {"kind": "npz", "path": str(root / "data.npz")},
                                      "model": {"train": {"epochs": 100_000, "patience": 100_000}}}))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with child_process([sys.executable, "-m", "lstm_deploy.cli", "run", recipe, "-o", tmp_path / "out"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True) as proc:
        deadline = time.monotonic() + 180
        while not (tmp_path / "out" / "train").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # training
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("Error: interrupted") and "Traceback" not in err
    assert (tmp_path / "out" / "data" / "stage.json").exists() and not (tmp_path / "out" / "train").exists()


# ---------------------------------------------------------------- issue 25: databases, captions, serve, artifacts
# (the output rule for every writing command: tests/test_outputs.py; large bodies: tests/serve/test_large_bodies.py)


def _sqlite(path: Path, statements: list[str]) -> Path:
    import sqlite3

    con = sqlite3.connect(path)
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()
    return path


def _foreign_databases(scratch: Path) -> dict[str, tuple[Path, str]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(storage=f"sqlite:///{scratch / 'theirs.db'}", study_name="their-study")  # another project's Optuna studies
    (scratch / "empty.db").write_bytes(b"")
    (scratch / "notes.db").write_text("not a database")
    return {"app": (_sqlite(scratch / "app.db", ["CREATE TABLE users (id INTEGER, name TEXT)", "INSERT INTO users VALUES (1, 'ada')"]),
                    "is an SQLite database lstm-deploy did not create"),
            "optuna": (scratch / "theirs.db", "holds Optuna studies lstm-deploy did not make"),
            "empty": (scratch / "empty.db", "is an empty file lstm-deploy did not create"),
            "text": (scratch / "notes.db", "is not an SQLite database")}


@pytest.mark.parametrize("kind", ["app", "optuna", "empty", "text"])
def test_optimize_never_writes_a_database_it_did_not_create(ws, capsys, kind):
    root, _, _, scratch = ws
    db, message = _foreign_databases(scratch)[kind]
    start = time.perf_counter()
    line = _check(ws, ["optimize", root / "model.keras", "--data", root / "data.npz", "--storage", f"sqlite:///{db}", "-o", scratch / "opt"],
                  capsys)  # _check: every byte of scratch (the database included) unchanged
    assert message in line and "writes only study databases it created" in line
    assert not (scratch / "opt").exists() and time.perf_counter() - start < 30  # refused before the model was loaded


def test_a_study_database_lstm_deploy_made_is_recognised(tmp_path):
    import optuna

    from lstm_deploy.optimize.storage import MARKER_TABLE, check_storage, prepare_storage, study_database_problem

    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert check_storage(url) == tmp_path / "study.db" and not (tmp_path / "study.db").exists()  # a new file: checked, not created
    prepare_storage(url)
    optuna.create_study(storage=url, study_name="lstm-deploy-optimize-abc", load_if_exists=True)  # Optuna adds its tables beside the marker
    assert study_database_problem(tmp_path / "study.db") is None
    legacy = f"sqlite:///{tmp_path / 'legacy.db'}"  # 0.2.0 made study databases without the marker table
    optuna.create_study(storage=legacy, study_name="lstm-deploy-optimize-0123456789ab")
    assert study_database_problem(tmp_path / "legacy.db") is None
    prepare_storage(legacy)
    import sqlite3

    con = sqlite3.connect(tmp_path / "legacy.db")
    assert con.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone() == (1,)
    con.close()
    assert check_storage("postgresql://user@db.example/studies") is None  # a server: the user's explicit choice on the command line


@pytest.mark.parametrize("storage,message", [
    ("postgresql://user@db.example/studies", "a server (postgresql://...) is chosen on the command line"),
    ("sqlite:////home/someone/app.db", "expected sqlite:///NAME.db, a plain file name"),
    ("sqlite:///../outside.db", "expected sqlite:///NAME.db, a plain file name"),
    ("sqlite:///sub/dir.db", "expected sqlite:///NAME.db, a plain file name"),
])
def test_a_recipe_keeps_its_study_inside_its_output_folder(ws, capsys, storage, message):
    root = ws[0]
    recipe = _recipe(root / "study.yaml", model={"path": "model.keras"}, stages=[{"optimize": {"storage": storage}}])
    try:
        line = _check(ws, ["run", recipe, "--dry-run"], capsys, allowed=("study.yaml",))
    finally:
        recipe.unlink()
    assert "stages[0].optimize.storage" in line and message in line


def test_a_recipe_study_file_lands_in_the_run_folder():
    from lstm_deploy.optimize.storage import recipe_storage_url

    assert recipe_storage_url("sqlite:///study.db", Path("/runs/x")) == "sqlite:////runs/x/study.db"


def _captions(path: Path, images: np.ndarray, captions: np.ndarray) -> Path:
    np.savez(path, images=images, captions=captions)
    return path


@pytest.mark.parametrize("case,message", [
    ("1x1", "images are 1x1 pixels; the captioner's encoder pools 2x2, so images need at least 2x2 pixels"),
    ("surrogate", "captions[3] holds the invalid code point U+D800 at character 2"),
    ("past-unicode", "captions[3] holds the invalid code point U+110000 at character 2"),
])
def test_bad_caption_files_are_input_errors(ws, capsys, case, message):
    root, _, _, scratch = ws
    words = np.array(["red apple", "green apple", "red car", "green car", "red apple", "big red car", "green", "red car"] * 2)
    side = 1 if case == "1x1" else 6
    if case != "1x1":
        points = words.view(np.uint32).reshape(len(words), -1).copy()
        points[3, 2] = 0xD800 if case == "surrogate" else 0x110000
        words = points.view(words.dtype).reshape(len(words))
    images = np.random.default_rng(0).integers(0, 256, (len(words), side, side, 3), dtype=np.uint8)
    data = _captions(scratch / "caps.npz", images, words)
    recipe = scratch / "caps.yaml"
    recipe.write_text(yaml.safe_dump({"name": "caps", "data": {"kind": "image_captions", "path": str(data), "min_count": 2, "max_words": 3},
                                      "model": {"train": {"architecture": {"type": "merge_captioner", "units": [4], "embedding_dim": 4,
                                                                           "conv_filters": 2}, "epochs": 1}},
                                      "stages": [{"export": {"formats": ["onnx"], "quantize": ["fp32"]}}]}))
    line = _check(ws, ["run", recipe, "-o", scratch / "out"], capsys, allowed=("./out",))
    assert message in line
    assert not (scratch / "out" / "data").exists()  # the failed step left nothing


@pytest.fixture(scope="module")
def exported(world, tmp_path_factory):
    """The clean model of the workspace as an ONNX artifact with its manifest."""
    from lstm_deploy.export import ExportConfig, export_model

    out = tmp_path_factory.mktemp("exported")
    (result,) = export_model(world[0] / "model.keras", out, ExportConfig(formats=("onnx",)), name="clf")
    return result.artifact


def test_serve_a_folder_is_one_line(ws, capsys, exported):
    line = _check(ws, ["serve", exported.parent], capsys)
    assert "is a folder; give the .tflite or .onnx file in it" in line


@pytest.mark.parametrize("command", ["serve", "benchmark"])
def test_an_artifact_the_runtime_refuses_is_exit_2_at_start(ws, capsys, exported, command):
    """A manifest edited so the runtime refuses the artifact (here: an input the artifact does not have): one line, exit 2,
    before anything is served or timed. (The runtime's own hash and schema errors are subclasses of its RuntimeError_.)"""
    import json

    scratch = ws[3]
    artifact = scratch / exported.name
    artifact.write_bytes(exported.read_bytes())
    manifest = json.loads(Path(str(exported) + ".json").read_text())
    manifest["input_name"] = "../etc"
    Path(str(artifact) + ".json").write_text(json.dumps(manifest))
    data = ws[0] / "data.npz"
    args = ["serve", artifact, "--port", "0"] if command == "serve" else ["benchmark", artifact, "--data", data, "--runtimes", "onnxruntime",
                                                                            "-o", scratch / "bench"]
    line = _check(ws, args, capsys)
    assert "../etc" in line and not (scratch / "bench").exists()


@pytest.mark.slow
def test_optimize_interrupted_exits_130(world, tmp_path):
    """Ctrl-C while the trials run: the best so far is written, marked partial, and the exit code is 130 (not 0)."""
    root = world[0]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with child_process([sys.executable, "-m", "lstm_deploy.cli", "optimize", root / "model.keras", "--data", root / "data.npz",
                        "--trials", "50", "--finetune-steps", "1", "--format", "onnx", "-o", tmp_path / "opt"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True) as proc:
        deadline = time.monotonic() + 300
        while not (tmp_path / "opt" / "trials").exists() and proc.poll() is None and time.monotonic() < deadline:  # a trial has finished
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "PARTIAL" in err and "Traceback" not in err
    import json

    assert json.loads((tmp_path / "opt" / "report.json").read_text())["partial"] is True
