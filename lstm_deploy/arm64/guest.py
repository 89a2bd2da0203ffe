"""Runs INSIDE the emulated aarch64 Python: every artifact of a job through ``lstm_deploy_runtime``.

Standalone on purpose (only the standard library, numpy and the TF-free runtime are importable
there). Usage: ``python guest.py JOB.json``. The job names the artifacts, the inputs ``.npz``
(``x`` or ``x__<input name>`` arrays), the thread count, the output ``.npz`` and the extra
``sys.path`` entries; the guest writes one output array per artifact (``out_<i>``) and a JSON
result with per-artifact status and seconds, the machine and what ``/proc/cpuinfo`` says the
emulated CPU offers.
"""

import json
import platform
import sys
import time


def _features():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            line = next((line for line in fh if line.startswith("Features")), "")
    except OSError:
        return []
    return line.partition(":")[2].split()


def main(job_path):
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    sys.path[:0] = job["path"]
    import numpy as np

    started = time.perf_counter()
    from lstm_deploy_runtime import Model

    import_s = time.perf_counter() - started
    with np.load(job["inputs"], allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    x = arrays["x"] if "x" in arrays else {k[len("x__"):]: v for k, v in arrays.items() if k.startswith("x__")}
    outputs, results = {}, []
    for i, path in enumerate(job["artifacts"]):
        t0 = time.perf_counter()
        try:
            model = Model.load(path, num_threads=job["threads"], require_manifest=False, preprocess=False)  # inputs are prepared
            loaded = time.perf_counter()
            outputs[f"out_{i}"] = np.asarray(model.predict(x))
            done = time.perf_counter()
            results.append({"status": "ok", "load_s": loaded - t0, "predict_s": done - loaded})
        except Exception as exc:  # reported per artifact; the others still run
            results.append({"status": "error", "reason": f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"})
    np.savez(job["outputs"], **outputs)
    info = {"machine": platform.machine(), "features": _features(), "import_s": import_s, "numpy": np.__version__, "results": results}
    with open(job["result"], "w", encoding="utf-8") as fh:
        json.dump(info, fh)


if __name__ == "__main__":
    main(sys.argv[1])
