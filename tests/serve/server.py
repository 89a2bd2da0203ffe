"""A real ``lstm-deploy serve`` process on 127.0.0.1 for the serve tests (TensorFlow made unimportable in it)."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
T = 6
LABELS = ["calm", "walk", "run"]

# The service must never import TensorFlow: with sys.modules["tensorflow"] = None any import of it fails.
_LAUNCH = "import sys; sys.modules['tensorflow'] = None; from lstm_deploy.cli import main; main(sys.argv[1:])"


class Server:
    """One ``lstm-deploy serve`` process; ``post``/``get`` return ``(status, JSON body)``."""

    def __init__(self, artifact: Path, *options: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, "serve", str(artifact), "--port", "0", *options],
                                     cwd=ROOT, stderr=subprocess.PIPE, text=True)
        line = ""
        deadline = time.monotonic() + 60
        while "serving" not in line and time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
        if "serving" not in line:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = line.split(" on ")[1].split()[0]
        self.log: collections.deque[str] = collections.deque(maxlen=50)  # stderr keeps draining (a full pipe would block the server)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            self.log.extend(self.proc.stderr)  # type: ignore[arg-type]
        except (ValueError, OSError):  # the pipe closed with the process
            pass

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def post(self, payload) -> tuple[int, dict]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", "/predict", body)

    def get(self, path: str) -> tuple[int, dict]:
        return self.request("GET", path)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def sequences(n: int, seed: int = 0) -> np.ndarray:
    """Post-, pre-padded and gapped sequences for the masked classifier."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, 3)).astype(np.float32)
    for i in range(n):
        x[i, rng.random(T) < 0.3] = 0.0
    return x
