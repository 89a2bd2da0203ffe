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


def onnx_latency(
    *models: Any, sample: np.ndarray | dict[str, np.ndarray], warmup: int = 20, repeats: int = 200, threads: int = 1, block: int = 20
) -> list[dict[str, Any]]:
    """Batch-1 ONNX Runtime latency of each tf_keras model on ``sample`` (one sequence, no batch axis; a dict of them for several inputs).

    Each model goes through the artifact core (:func:`lstm_deploy.export.convert`, the route
    ``lstm-deploy export`` takes, masked models included) and runs through
    :class:`lstm_deploy.runtime.Model`; the artifact is checked against its Keras model first.
    The models run in alternating blocks of ``block`` calls (A x20, B x20, A x20, ...): each
    block keeps its weights in cache, and load from other processes hits all models alike,
    so their ratio stays meaningful on a busy machine. Each entry holds the
    :class:`~lstm_deploy.bench.stats.LatencyStats` fields plus ``onnx_bytes`` and ``rel_error``.

    Example:
        >>> before, after = onnx_latency(original, pruned, sample=x_test[0])   # doctest: +SKIP
        >>> before["p50_ms"] / after["p50_ms"]                                 # doctest: +SKIP
        2.3
    """
    from ... import metrics
    from ...bench.stats import summarize
    from ...export import convert, load_artifact
    from ...load.flavours import predict

    several = isinstance(sample, dict)  # {input name: one sample} of a model with several inputs
    x: Any = {k: np.asarray(v)[None] for k, v in sample.items()} if several else np.asarray(sample)[None]
    runners = []
    for model in models:
        art = convert(model, "onnx", "fp32", input_shape=None if several else tuple(x.shape[1:]))
        runner = load_artifact(art, num_threads=threads)
        err = metrics.rel_error(runner.predict(x), predict(model, x))
        if err > 1e-4:
            raise ExportError(f"the ONNX artifact differs from the Keras model (relative error {err:.2e} > 1e-4); latency not measured")
        runners.append((runner, art.size_bytes, err))
    for runner, _, _ in runners:
        for _ in range(warmup):
            runner.predict(x)
    times: list[list[float]] = [[] for _ in runners]
    while len(times[0]) < repeats:
        for i, (runner, _, _) in enumerate(runners):
            for _ in range(min(block, repeats - len(times[i]))):
                t0 = time.perf_counter()
                runner.predict(x)
                times[i].append(time.perf_counter() - t0)
    return [
        {**summarize(t, batch_size=1).as_dict(), "onnx_bytes": size, "rel_error": err, "threads": threads}
        for t, (_, size, err) in zip(times, runners)
    ]


@dataclass
class PruneReport:
    """Everything ``--report`` writes (see :meth:`to_dict`). Metrics are the primary metric on ``x_test`` (fractions / RMSE)."""

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
    finetune: dict[str, Any] | None = None  # budget, validation curve, best step, recovered, warning
    latency_before: dict[str, Any] | None = None
    latency_after: dict[str, Any] | None = None
    search: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def steps_run(self) -> int:
        """Optimizer steps the fine-tune ran (0 without fine-tuning)."""
        return int(self.finetune["steps_run"]) if self.finetune else 0

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

    def summary(self) -> dict[str, Any]:
        """The headline numbers (for the run report and the CLI)."""
        return {
            "method": self.method, "target_sparsity": self.target_sparsity, "achieved_sparsity": self.achieved_sparsity,
            "metric": self.metric, "metric_before": self.metric_before, "metric_after": self.metric_after, "metric_drop": self.metric_drop,
            "gzip_bytes_before": self.size_before["gzip_bytes"], "gzip_bytes_after": self.size_after["gzip_bytes"],
            "p50_ms_before": (self.latency_before or {}).get("p50_ms"), "p50_ms_after": (self.latency_after or {}).get("p50_ms"),
            "speedup": self.speedup, "steps_run": self.steps_run,
            "best_step": self.finetune["best_step"] if self.finetune else None,
            "recovered": self.finetune["recovered"] if self.finetune else None, "warnings": self.warnings,
        }
