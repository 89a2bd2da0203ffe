"""The search space of one model: built from what ``inspect`` says applies to it.

Dimensions (each present only when it applies):

* ``units_kept`` -- fraction of LSTM units kept (global, or ``units_kept:<layer>`` per layer
  with ``per_layer_units``) for layers whose ``unit_prune`` verdict is ``yes``; reports say
  "units removed" (``1 - kept``), the word ``prune --method units --sparsity`` uses;
* ``sparsity`` -- magnitude sparsity of the remaining weights, for the ``size`` objective only
  (unstructured zeros shrink the gzip file, not the dense kernels' latency -- measured in
  ``benchmarks/prune_tradeoff.py``);
* ``artifact`` -- format and quantization (``onnx/dynamic``, ``tflite/int8``, ...);
* ``threads`` -- when more than one thread count is offered.

QAT is not a dimension: a trial runs it only where post-training quantization loses
more than the budget (see :mod:`lstm_deploy.optimize.trial`).

The known-good routes (:meth:`SearchSpace.known_routes`) are always tried first: every
post-training mode of the original, and half and a quarter of the units with each fast mode
(ONNX dynamic, TFLite dynamic / float16 / int8) -- so the search is never worse than a plain
``export``. :meth:`Candidate.key` identifies a configuration: the same key never runs twice.

Example:
    >>> space = SearchSpace(unit_layers=("lstm",), magnitude=False, qat=True,
    ...                     artifacts=("onnx/fp32", "onnx/dynamic"), threads=(1,))
    >>> sorted(space.starting_points("latency")[0])
    ['artifact', 'units_kept']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..load.summary import ModelReport
from .config import OptimizeConfig

UNIT_STEP = 0.05
SPARSITY_MAX = 0.95
#: The fast post-training modes of the known-good routes (measured: FACTS.md, benchmarks/optimize.py).
FAST_MODES = ("onnx/dynamic", "tflite/dynamic", "tflite/float16", "tflite/int8")
#: Fractions of units kept by the known-good routes (half and a quarter).
KNOWN_UNITS = (0.5, 0.25)


@dataclass(frozen=True)
class Candidate:
    """One point of the space: what a trial builds and measures."""

    units_kept: dict[str, float]  # {"*": k} (global) or {layer: k}; 1.0 = unchanged
    sparsity: float
    format: str
    quantization: str
    threads: int

    def label(self) -> str:
        """A short human description, e.g. ``50% of units removed, onnx dynamic`` (removed, as ``prune --sparsity`` counts)."""
        parts = []
        kept = {k: v for k, v in self.units_kept.items() if v < 1.0}
        if kept:
            parts.append(", ".join(f"{1.0 - v:.0%} of {'units' if k == '*' else k + ' units'} removed" for k, v in kept.items()))
        if self.sparsity > 0:
            parts.append(f"sparsity {self.sparsity:.0%}")
        parts.append(f"{self.format} {self.quantization}")
        if self.threads != 1:
            parts.append(f"{self.threads} threads")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def plain(self) -> bool:
        """No compression: the original model exported in one mode (what a plain ``export`` gives)."""
        return self.sparsity == 0 and all(v >= 1.0 for v in self.units_kept.values())

    def compression_key(self) -> str:
        """What the fine-tune builds (units and sparsity): trials sharing it reuse one fine-tuned model."""
        return self.key().rsplit(" ", 2)[0]

    def key(self) -> str:
        """The configuration's identity: equal keys build the same artifact (units kept 1.0 = untouched)."""
        units = ",".join(f"{k}={v:.2f}" for k, v in sorted(self.units_kept.items()) if v < 1.0) or "all"
        return f"units[{units}] sparsity={self.sparsity:.2f} {self.format}/{self.quantization} t{self.threads}"


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions a model's search has (see the module docstring)."""

    unit_layers: tuple[str, ...]
    magnitude: bool
    qat: bool
    artifacts: tuple[str, ...]
    threads: tuple[int, ...]
    per_layer: bool = False
    min_units_kept: float = 0.1
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def for_model(cls, report: ModelReport, config: OptimizeConfig) -> "SearchSpace":
        """The space ``inspect``'s ``report`` allows under ``config``."""
        notes = []
        unit_layers = tuple(layer.name for layer in report.layers if layer.stages["unit_prune"] == "yes")
        if not unit_layers:
            notes.append("no LSTM layer allows unit removal: units are not searched")
        prunable = any(layer.stages["magnitude_prune"] == "yes" for layer in report.layers)
        magnitude = config.objective == "size" and prunable
        if config.objective == "latency":
            notes.append("magnitude sparsity is not searched for latency: dense kernels run zeros as fast as any weight")
        weighted = [layer for layer in report.layers if layer.params > 0]
        blocked = [f"{layer.name} ({layer.stages['qat'][4:]})" for layer in weighted if layer.stages["qat"] != "yes"]
        if blocked:
            notes.append("QAT does not apply (" + "; ".join(blocked) + "): quantized trials use post-training quantization only")
        artifacts = tuple(f"{fmt}/{q}" for fmt, q in config.artifact_choices())
        return cls(unit_layers, magnitude, not blocked, artifacts, tuple(dict.fromkeys(config.threads)), config.per_layer_units,
                   config.min_units_kept, tuple(notes))

    @property
    def low(self) -> float:
        """The smallest units fraction on the search grid."""
        return round(min(1.0, max(UNIT_STEP, round(self.min_units_kept / UNIT_STEP) * UNIT_STEP)), 2)

    def _unit_names(self) -> list[str]:
        if not self.unit_layers:
            return []
        return [f"units_kept:{name}" for name in self.unit_layers] if self.per_layer else ["units_kept"]

    def suggest(self, trial: Any) -> Candidate:
        """Ask an Optuna trial for one candidate."""
        units = {name: trial.suggest_float(name, self.low, 1.0, step=UNIT_STEP) for name in self._unit_names()}
        sparsity = trial.suggest_float("sparsity", 0.0, SPARSITY_MAX, step=0.05) if self.magnitude else 0.0
        artifact = trial.suggest_categorical("artifact", list(self.artifacts))
        threads = trial.suggest_categorical("threads", list(self.threads)) if len(self.threads) > 1 else self.threads[0]
        return self.candidate({**units, "sparsity": sparsity, "artifact": artifact, "threads": threads})

    def candidate(self, params: dict[str, Any]) -> Candidate:
        """The candidate of a trial's ``params`` (as Optuna stores them)."""
        units = {("*" if k == "units_kept" else k.split(":", 1)[1]): round(float(v), 4) for k, v in params.items() if k.startswith("units_kept")}
        fmt, quant = str(params["artifact"]).split("/")
        return Candidate(units, round(float(params.get("sparsity", 0.0)), 4), fmt, quant, int(params.get("threads", self.threads[0])))

    def candidate_key(self, candidate: dict[str, Any]) -> str:
        """:meth:`Candidate.key` of a recorded candidate dict."""
        return Candidate(**candidate).key()

    def _params(self, kept: float, artifact: str, sparsity: float | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {name: (1.0 if kept >= 1.0 else max(kept, self.low)) for name in self._unit_names()}
        if self.magnitude:
            params["sparsity"] = 0.0 if sparsity is None else sparsity
        params["artifact"] = artifact
        if len(self.threads) > 1:
            params["threads"] = self.threads[0]
        return params

    def known_routes(self) -> list[dict[str, Any]]:
        """The plain exports (every mode of the original) and half / a quarter of the units with each fast mode."""
        points = [self._params(1.0, a) for a in self.artifacts]
        if self.unit_layers:
            for kept in KNOWN_UNITS:
                points += [self._params(kept, a) for a in FAST_MODES if a in self.artifacts]
        unique: list[dict[str, Any]] = []
        for p in points:
            if p not in unique:
                unique.append(p)
        return unique

    def starting_points(self, objective: str) -> list[dict[str, Any]]:
        """The first trials: the known-good routes, then a few from what is known to work (then the sampler takes over).

        Latency: removing units and ONNX Runtime's dynamic int8 LSTM are the measured fast routes;
        size: units x magnitude sparsity x full int8 (ESE's recipe for 20x).
        """
        points = self.known_routes()
        wanted = (["onnx/dynamic", "tflite/dynamic", "onnx/fp32"] if objective == "latency"
                  else ["tflite/int8", "onnx/dynamic", "tflite/dynamic"])
        artifact = next((a for a in wanted if a in self.artifacts), self.artifacts[0])
        for kept, sparsity in ((0.5, 0.8), (0.25, 0.6), (1.0, 0.9)):
            params = self._params(kept, artifact, sparsity)
            if params not in points:
                points.append(params)
        return points

    def describe(self) -> dict[str, Any]:
        """The space as a report shows it: each dimension as its range (fractions; ``units_removed`` = 1 - kept)."""
        units = None
        if self.unit_layers:
            units = {"layers": list(self.unit_layers), "per_layer": self.per_layer, "min": 0.0, "max": round(1.0 - self.low, 2), "step": UNIT_STEP}
        sparsity = {"min": 0.0, "max": SPARSITY_MAX, "step": 0.05} if self.magnitude else None
        return {"units_removed": units, "sparsity": sparsity, "artifacts": list(self.artifacts), "threads": list(self.threads),
                "qat_when_ptq_loses": self.qat, "known_routes": len(self.known_routes()), "notes": list(self.notes)}
