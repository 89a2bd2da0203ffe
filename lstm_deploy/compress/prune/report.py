"""What a pruning run did, in numbers: per-layer sparsity, sizes, metric, latency.

Sizes are those of the model's float32 weights: ``raw`` is their byte count (what a
dense runtime loads) and ``gzip`` their gzip-9 size (what sparsity buys on disk or
over the wire). Latency is ONNX Runtime, batch 1, one thread, median of timed runs
after warm-up, summarized by :func:`lstm_deploy.bench.stats.summarize`.

Example:
    >>> rows = layer_rows(original, pruned)                 # doctest: +SKIP
    >>> weight_sizes(pruned)["gzip_bytes"]                   # doctest: +SKIP
    10432
"""

from __future__ import annotations

import gzip
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ... import _tf
from ...errors import ExportError


def _weights(layer: Any) -> list[np.ndarray]:
    return [np.asarray(w) for w in layer.get_weights()]


def weight_sizes(model: Any) -> dict[str, int]:
    """Parameter count, nonzero count, raw float32 bytes and gzip-9 bytes of all weights."""
    arrays = [np.asarray(w, dtype=np.float32) for w in model.get_weights()]
    blob = b"".join(a.tobytes() for a in arrays)
    return {
        "params": int(sum(a.size for a in arrays)),
        "nonzero": int(sum(np.count_nonzero(a) for a in arrays)),
        "raw_bytes": len(blob),
        "gzip_bytes": len(gzip.compress(blob, compresslevel=9)),
    }


def layer_rows(before: Any, after: Any, units_before: dict[str, int] | None = None, units_after: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """One row per weighted layer: params and nonzeros before/after, achieved sparsity, units.

    ``sparsity`` is ``1 - nonzero_after / params_before``: zeroed weights and removed
    weights both count, so magnitude and unit pruning are comparable.
    """
    rows = []
    after_by_name = {layer.name: layer for layer in after.layers}
    for layer in before.layers:
        wb = _weights(layer)
        if not wb:
            continue
        wa = _weights(after_by_name[layer.name]) if layer.name in after_by_name else []
        pb = int(sum(w.size for w in wb))
        na = int(sum(np.count_nonzero(w) for w in wa))
        row: dict[str, Any] = {
            "layer": layer.name,
            "class": layer.__class__.__name__,
            "params_before": pb,
            "nonzero_before": int(sum(np.count_nonzero(w) for w in wb)),
            "params_after": int(sum(w.size for w in wa)),
            "nonzero_after": na,
            "sparsity": round(1.0 - na / pb, 6) if pb else 0.0,
        }
        if units_before and layer.name in units_before:
            row["units_before"] = units_before[layer.name]
            row["units_after"] = (units_after or {}).get(layer.name, units_before[layer.name])
        rows.append(row)
    return rows


def _to_onnx_bytes(model: Any, sample_shape: tuple[int, ...], opset: int = 17, dtype: Any = np.float32) -> bytes:
    """Convert a Keras model to ONNX for batch 1 via ``tf2onnx.convert.from_function``.

    Pass a tf_keras model to get the fused ONNX ``LSTM`` op (Keras 3 graphs become a ``Loop``).
    """
    tf = _tf.tf()
    import tf2onnx

    spec = tf.TensorSpec((1, *sample_shape), tf.as_dtype(np.dtype(dtype).name), name="input")
    fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    try:
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=[spec], opset=opset)
    except Exception as exc:  # tf2onnx raises many unrelated types; report it as one export failure
        raise ExportError(f"ONNX conversion for the latency measurement failed: {exc.__class__.__name__}: {exc}") from None
    return proto.SerializeToString()


def _session(model: Any, x: np.ndarray, threads: int) -> tuple[Any, str, bytes, float]:
    import onnxruntime as ort

    from ...load.flavours import to_tf_keras

    # tf2onnx fuses tf_keras LSTMs into the ONNX LSTM op; a Keras 3 graph comes out as a slow Loop
    model = to_tf_keras(model, canonical=False)
    blob = _to_onnx_bytes(model, x.shape[1:], dtype=x.dtype)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = sess.run(None, {name: x})[0]
    diff = float(np.max(np.abs(out - np.asarray(model(x, training=False)))))
    if diff > 1e-4:
        raise ExportError(f"ONNX model differs from the Keras model by {diff:.2e} (> 1e-4); latency not measured")
    return sess, name, blob, diff


def onnx_latency(
    *models: Any, sample: np.ndarray, warmup: int = 20, repeats: int = 200, threads: int = 1, block: int = 20
) -> list[dict[str, Any]]:
    """Batch-1 ONNX Runtime latency of each model on ``sample`` (one sequence, no batch axis).

    The models run in alternating blocks of ``block`` calls (A x20, B x20, A x20, ...): each
    block keeps its weights in cache, and load from other processes hits all models alike,
    so their ratio stays meaningful on a busy machine. Each entry
    holds the :class:`~lstm_deploy.bench.stats.LatencyStats` fields plus ``onnx_bytes`` and
    ``max_abs_diff`` against the Keras model (the export proves itself first).

    Example:
        >>> before, after = onnx_latency(original, pruned, sample=x_test[0])   # doctest: +SKIP
        >>> before["p50_ms"] / after["p50_ms"]                                 # doctest: +SKIP
        2.3
    """
    from ...bench.stats import summarize

    x = np.asarray(sample)[None]
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    sessions = [_session(m, x, threads) for m in models]
    for sess, name, _, _ in sessions:
        for _ in range(warmup):
            sess.run(None, {name: x})
    times: list[list[float]] = [[] for _ in sessions]
    while len(times[0]) < repeats:
        for i, (sess, name, _, _) in enumerate(sessions):
            for _ in range(min(block, repeats - len(times[i]))):
                t0 = time.perf_counter()
                sess.run(None, {name: x})
                times[i].append(time.perf_counter() - t0)
    return [
        {**summarize(t, batch_size=1).as_dict(), "onnx_bytes": len(blob), "max_abs_diff": diff, "threads": threads}
        for t, (_, _, blob, diff) in zip(times, sessions)
    ]


@dataclass
class PruneReport:
    """Everything ``--report`` writes (see :meth:`to_dict`)."""

    method: str
    target_sparsity: float
    achieved_sparsity: float
    metric: str
    metric_before: float
    metric_after: float
    metric_drop: float
    size_before: dict[str, int]
    size_after: dict[str, int]
    layers: list[dict[str, Any]]
    flavour: str
    schedule: dict[str, Any] | None = None
    weight_sparsity: dict[str, float] = field(default_factory=dict)  # magnitude: "layer/weight" -> achieved
    epochs_run: int = 0
    latency_before: dict[str, Any] | None = None
    latency_after: dict[str, Any] | None = None
    search: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float | None:
        """Median batch-1 latency before / after (unit pruning with latency measured)."""
        if not (self.latency_before and self.latency_after):
            return None
        return self.latency_before["p50_ms"] / self.latency_after["p50_ms"]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["speedup"] = self.speedup
        return d
