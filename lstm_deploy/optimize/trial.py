"""One trial: compress -> (QAT where post-training loses) -> verified export -> validation score -> measured latency/size.

A trial only ever sees the *search view* of the data (:func:`search_view`): all of the training
rows and the selection rows (:mod:`lstm_deploy.compress.holdout`: ``x_val``, or half of
``x_test``), with the selection rows in the ``x_test`` slot, so every library call it makes
(prune, QAT, export parity, benchmark) scores on rows the model never trained on. The
confirmation rows are used once, later, for the finalists. Trials that share a compression
(the same units and sparsity, another format or mode) reuse its fine-tuned model in this process. Each step is a public stage API: ``prune_model`` (units,
then magnitude), ``quantize_aware_train``, ``export_model`` and ``benchmark`` -- so the recipe
a trial records (``stages``) reproduces it with ``lstm-deploy run``.

Trials run anywhere (this process or a Ray worker): inputs are a picklable :class:`TrialSetup`,
outputs a :class:`TrialOutcome` whose files travel back as bytes.

Example:
    >>> outcome = run_trial(setup, 0, candidate)          # doctest: +SKIP
    >>> outcome.status, outcome.latency_ms                 # doctest: +SKIP
    ('ok', 0.084)
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import metrics
from ..load.dataset import Dataset
from .config import OptimizeConfig
from .space import Candidate

#: Export's own metric gate is opened inside the search: the search judges every artifact
#: against the *original* model's validation metric itself (export's fp32 gate stays strict).
OPEN_METRIC_GATE = 1e6
#: The benchmark runtime that runs each format (what ships: LiteRT / ONNX Runtime on CPU).
RUNTIMES = {"tflite": "tflite", "onnx": "onnxruntime"}
FINETUNE_BATCH = 32


@dataclass(frozen=True)
class TrialSetup:
    """What every trial needs, picklable (sent once to each Ray worker).

    ``model_bytes`` is the original model as a tf_keras ``.keras`` file; ``data`` the search
    view; ``reference`` the original model's validation metric.
    """

    model_bytes: bytes
    data: Dataset
    config: OptimizeConfig
    reference: float
    qat: bool

    @property
    def key(self) -> str:
        return hashlib.sha256(self.model_bytes).hexdigest()


@dataclass
class TrialOutcome:
    """What a trial did and measured; ``files`` (artifact, manifest, Keras model) as bytes."""

    number: int
    candidate: dict[str, Any]
    status: str = "ok"  # ok | pruned | failed
    reason: str = ""
    val_metric: float | None = None
    val_drop: float | None = None
    float_val_metric: float | None = None
    latency_ms: float | None = None
    size_bytes: int | None = None
    gzip_bytes: int | None = None
    qat: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    artifact: str | None = None
    seconds: float = 0.0
    bench_seconds: float | None = None
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def feasible(self, max_drop: float) -> bool:
        """Finished, and within the budget on the validation split."""
        return self.status == "ok" and self.val_drop is not None and self.val_drop <= max_drop + 1e-9

    def summary(self) -> dict[str, Any]:
        """Everything but the file bytes (what the study and the report keep)."""
        out = asdict(self)
        out.pop("files")
        return out


def search_view(dataset: Dataset, config: OptimizeConfig) -> Dataset:
    """The data a trial sees: all training rows for fitting, the selection rows in both ``x_val`` and ``x_test``.

    The rows are :func:`lstm_deploy.compress.holdout.choose`'s -- the rule ``prune`` and
    ``quantize`` apply themselves, so a recipe run on the full data selects on the same rows.
    """
    from ..compress import holdout

    return holdout.choose(dataset, config.seed).search_dataset(dataset)


_MODELS: dict[str, Any] = {}
#: Compressed models by (model, units, sparsity): other modes of the same compression skip the fine-tune.
_COMPRESSED: dict[tuple[str, str], tuple[Any, list[dict[str, Any]], list[dict[str, Any]], float | None, str]] = {}
_COMPRESSED_MAX = 4


def _base_model(setup: TrialSetup) -> Any:
    """The original model, loaded once per process (Ray workers run many trials)."""
    if setup.key not in _MODELS:
        from ..load.modelio import load_model

        with tempfile.TemporaryDirectory(prefix="lstm-deploy-trial-") as tmp:
            path = Path(tmp) / "model.keras"
            path.write_bytes(setup.model_bytes)
            _MODELS.clear()
            _MODELS[setup.key] = load_model(path).model
    return _MODELS[setup.key]


def _stage(config: Any) -> dict[str, Any]:
    """A recipe ``stages:`` entry for a stage config (defaults left out, the stage's own defaults apply)."""
    return {config.stage: config.model_dump(mode="json", exclude={"stage"}, exclude_defaults=True)}


def _prune_steps(cand: Candidate, config: OptimizeConfig) -> list[Any]:
    from ..compress.prune import PruneConfig

    common = {"batch_size": FINETUNE_BATCH, "val_fraction": config.val_fraction, "seed": config.seed}
    kept = [(layer, k) for layer, k in cand.units_kept.items() if k < 1.0]
    steps = []
    for i, (layer, k) in enumerate(kept):
        last = i == len(kept) - 1
        layers = None if layer == "*" else (layer,)
        steps.append(PruneConfig(method="units", sparsity=round(1.0 - k, 4), layers=layers, per_layer=layers is not None,
                                 steps=config.finetune_steps if last else 0, **common))
    if cand.sparsity > 0:
        steps.append(PruneConfig(method="magnitude", sparsity=cand.sparsity, steps=config.finetune_steps, **common))
    return steps


class TimeBudgetReached(Exception):
    """The search's deadline passed before a trial's next step (the step in flight is finished, no more)."""


def _in_time(deadline: float | None, step: str) -> None:
    if deadline is not None and time.time() > deadline:
        raise TimeBudgetReached(f"--time-budget reached before '{step}'")


def _compress(model: Any, setup: TrialSetup, cand: Candidate, out: TrialOutcome, deadline: float | None = None) -> Any | None:
    """:func:`_compress_once`, remembered per compression (a cached result says which trial computed it)."""
    if cand.plain:
        return model
    key = (setup.key, cand.key().split(" ", 2)[0] + f" {cand.sparsity:.2f}")
    if key in _COMPRESSED:
        cached, steps, stages, float_metric, reason = _COMPRESSED[key]
        out.steps.extend(dict(s, reused=True) for s in steps)
        out.stages.extend(stages)
        out.float_val_metric = float_metric
        if cached is None:
            out.status, out.reason = "pruned", reason
        return cached
    compressed = _compress_once(model, setup, cand, out, deadline)
    if len(_COMPRESSED) >= _COMPRESSED_MAX:
        _COMPRESSED.pop(next(iter(_COMPRESSED)))
    _COMPRESSED[key] = (compressed, list(out.steps), list(out.stages), out.float_val_metric, out.reason)
    return compressed


def _compress_once(model: Any, setup: TrialSetup, cand: Candidate, out: TrialOutcome, deadline: float | None = None) -> Any | None:
    """Unit removal and magnitude pruning with fine-tuning; ``None`` when the trial cannot recover."""
    from ..compress.prune import prune_model
    from ..errors import InputError

    config, task = setup.config, setup.data.task
    for step in _prune_steps(cand, config):
        _in_time(deadline, f"prune {step.method}")
        try:
            res = prune_model(model, setup.data, step, measure_latency=False)
        except InputError as exc:  # e.g. a fraction too small to remove a single unit: the step changes nothing
            out.steps.append({"step": f"prune {step.method}", "skipped": str(exc)})
            continue
        model = res.model
        out.float_val_metric = res.report.metric_after  # the compressed float model, before quantization
        drop = metrics.metric_drop(setup.reference, res.report.metric_after, task)
        out.steps.append({"step": f"prune {step.method}", "sparsity": step.sparsity, "steps_run": res.report.steps_run,
                          "val_metric": res.report.metric_after, "val_drop": drop})
        out.stages.append(_stage(step))
        if step.steps and drop > config.max_metric_drop + config.recovery_margin:
            out.status = "pruned"
            out.reason = (f"selection-row drop {metrics.format_drop(metrics.primary_metric(task), drop)} after fine-tuning "
                          f"'prune {step.method}' is beyond budget + recovery margin")
            return None
    return model


def _export(model: Any, setup: TrialSetup, cand: Candidate, folder: Path) -> Any:
    from ..export import ExportConfig, export_model

    cfg = ExportConfig(formats=(cand.format,), quantize=(cand.quantization,), batch_size=setup.config.batch_size,
                       max_metric_drop=OPEN_METRIC_GATE, seed=setup.config.seed)
    (result,) = export_model(model, folder, cfg, data=setup.data, name="model")
    return cfg, result


def _quantize(model: Any, setup: TrialSetup, cand: Candidate, folder: Path, out: TrialOutcome, deadline: float | None = None) -> tuple[Any, Any]:
    """Export; where post-training quantization loses more than the budget (and the float model did not), QAT and export again."""
    from ..compress.qat import TARGETS, QatConfig, quantize_aware_train

    config, task = setup.config, setup.data.task
    float_metric = setup.reference if out.float_val_metric is None else out.float_val_metric
    out.float_val_metric = float_metric
    _in_time(deadline, "export")
    ecfg, result = _export(model, setup, cand, folder)
    drop = metrics.metric_drop(setup.reference, result.parity.metric_artifact, task)
    out.steps.append({"step": f"export {cand.format} {cand.quantization}", "val_metric": result.parity.metric_artifact, "val_drop": drop})
    target = next((t for t, fq in TARGETS.items() if fq == (cand.format, cand.quantization)), None)
    float_drop = metrics.metric_drop(setup.reference, float_metric, task)
    if target and setup.qat and config.qat_steps > 0 and drop > config.max_metric_drop >= float_drop:
        _in_time(deadline, "QAT")
        qcfg = QatConfig(target=target, steps=config.qat_steps, val_fraction=config.val_fraction, seed=config.seed, compare=())
        qat = quantize_aware_train(model, setup.data, qcfg)
        model, out.qat = qat.model, qat.report.handed_over == "qat"  # QAT may hand back the float model (post-training was better)
        out.stages.append(_stage(qcfg))
        ecfg, result = _export(model, setup, cand, folder)
        drop = metrics.metric_drop(setup.reference, result.parity.metric_artifact, task)
        out.steps.append({"step": f"QAT {target} + export", "val_metric": result.parity.metric_artifact, "val_drop": drop})
    out.stages.append(_stage(ecfg))
    out.val_metric, out.val_drop = result.parity.metric_artifact, drop
    return model, result


def _measure(artifact: Path, setup: TrialSetup, cand: Candidate, out: TrialOutcome) -> None:
    """Latency and size of the real artifact, by the benchmark's own method (a worker process)."""
    from ..bench import BenchConfig, benchmark
    from ..errors import StageError

    bcfg = BenchConfig(runtimes=(RUNTIMES[cand.format],), threads=(cand.threads,), batch_sizes=(setup.config.batch_size,),
                       include_keras=False)
    start = time.perf_counter()
    rows = benchmark([artifact], setup.data, bcfg).results
    out.bench_seconds = time.perf_counter() - start
    row = rows[0] if rows else {"status": "error", "reason": "no row"}
    if row["status"] != "ok":
        raise StageError(f"benchmark of {artifact.name} on {row.get('runtime')}: {row['status']}: {row.get('reason')}")
    out.latency_ms, out.size_bytes, out.gzip_bytes = float(row["p50_ms"]), int(row["size_bytes"]), int(row["gzip_bytes"])
    out.stages.append(_stage(bcfg))


def run_trial(setup: TrialSetup, number: int, cand: Candidate, deadline: float | None = None) -> TrialOutcome:
    """Run one trial (see the module docstring); never raises for a bad configuration, records why instead.

    ``deadline`` (``time.time()`` seconds): no further step starts after it (the trial is recorded as failed).
    """
    from ..load.modelio import save_model

    start = time.perf_counter()
    out = TrialOutcome(number, cand.to_dict())
    try:
        with tempfile.TemporaryDirectory(prefix=f"lstm-deploy-trial{number}-") as tmp:
            folder = Path(tmp)
            model = _compress(_base_model(setup), setup, cand, out, deadline)
            if model is not None:
                model, result = _quantize(model, setup, cand, folder, out, deadline)
                if result.artifact is None:  # the converter quantized nothing: the fp32 twin, not a candidate of its own
                    out.status, out.reason = "pruned", f"duplicate of fp32: {result.note}"
                    out.seconds = time.perf_counter() - start
                    return out
                _in_time(deadline, "latency measurement")
                _measure(result.artifact, setup, cand, out)
                out.artifact = result.artifact.name
                out.files = {result.artifact.name: result.artifact.read_bytes(), result.manifest.name: result.manifest.read_bytes()}
                if out.feasible(setup.config.max_metric_drop):  # only candidates that may win keep their Keras model
                    out.files["model.keras"] = save_model(model, folder / "model.keras", flavour="tf_keras").read_bytes()
    except Exception as exc:  # one bad configuration must not end the search; the reason goes into the report
        out.status, out.reason = "failed", f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:400]
    out.seconds = time.perf_counter() - start
    return out
