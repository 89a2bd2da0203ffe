"""``export_model``: convert, verify parity, write artifact + manifest atomically.

Example:
    >>> config = ExportConfig(formats=("tflite", "onnx"), quantize=("fp32", "dynamic"))
    >>> results = export_model("model.keras", "out", config, data="data.npz")   # doctest: +SKIP
    >>> [(r.artifact.name, r.parity.passed) for r in results]                   # doctest: +SKIP
    [('model.fp32.tflite', True), ('model.dynamic.tflite', True), ...]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import runtime
from ..atomic import atomic_path
from ..errors import DataError, ExportError, InputError, ParityError, UnsupportedLayerError
from ..load.dataset import Dataset, load_data, model_inputs, rows, take
from . import manifest as manifest_mod
from . import plan as plan_mod
from . import weights as weights_mod
from .config import ExportConfig
from .convert import FORMATS, Converted, calibration_set, convert, load_artifact
from .parity import ParityReport, compare


class ExportWarning(UserWarning):
    """A non-fatal export problem (unfused LSTM, int8 calibrated on random inputs)."""


@dataclass(frozen=True)
class ExportResult:
    """One artifact: where it is, what it is, and how it compares with the source model.

    ``artifact``/``manifest`` are ``None`` when parity failed (nothing was written).
    """

    artifact: Path | None
    manifest: Path | None
    format: str
    quantization: str
    streaming: bool
    size_bytes: int
    fused: bool
    parity: ParityReport
    warnings: tuple[str, ...] = field(default_factory=tuple)
    weights: dict[str, Any] | None = None  # weight matrices by dtype (export.weights)
    note: str | None = None  # why a passing artifact was not written (a quantized mode that quantized nothing)
    arch: dict[str, Any] = field(default_factory=dict)  # --verify-arch: {"arm64": per-CPU results} (export/arch.py)

    @property
    def passed(self) -> bool:
        return self.parity.passed

    def summary(self) -> dict[str, Any]:
        """One flat row for reports (``export.json``, the run report)."""
        p = self.parity
        return {"artifact": self.artifact.name if self.artifact else None, "format": self.format, "quantization": self.quantization,
                "size_bytes": self.size_bytes, "fused": self.fused, "passed": self.passed, "rel_error": p.rel_error,
                "max_abs_error": p.max_abs_error, "metric": p.metric, "metric_source": p.metric_source,
                "metric_artifact": p.metric_artifact, "metric_drop": p.metric_drop, "argmax_agreement": p.argmax_agreement,
                "budget": p.budget, "quantized_weights": None if self.weights is None else self.weights["quantized"],
                "weights": None if self.weights is None else self.weights["total"], "note": self.note}


@dataclass
class _Source:
    model: Any  # the user's model (either flavour)
    tf_keras: Any
    info: dict[str, Any]
    name: str


def _resolve_model(model_or_path: Any) -> _Source:
    from ..load import flavours, modelio
    from ..load.layers import check_supported

    if isinstance(model_or_path, (str, Path)):
        loaded = modelio.load_model(model_or_path)
        info = {"file": loaded.path.name, "sha256": loaded.sha256, "flavour": loaded.flavour,
                "canonicalized": loaded.canonical_changes()}
        return _Source(loaded.model, loaded.tf_keras_model(), info, Path(model_or_path).name.split(".")[0] or "model")
    if not hasattr(model_or_path, "layers") or not hasattr(model_or_path, "inputs"):
        raise InputError(f"model: expected a Keras model or a model file path, got {type(model_or_path).__name__}")
    flavour = flavours.flavour_of(model_or_path)
    check_supported(model_or_path.layers)
    canonical, changes = flavours.canonicalize(model_or_path)
    tfk = flavours.to_tf_keras(canonical, canonical=False) if flavour == "keras3" else canonical
    info = {"file": None, "sha256": None, "flavour": flavour, "canonicalized": changes}
    return _Source(model_or_path, tfk, info, "model")


def _random_inputs(model: Any, shape: tuple[int, ...], dtype: str, mask: plan_mod.MaskSpec | None, n: int, seed: int) -> np.ndarray:
    """Seeded inputs of per-sample ``shape``: normal floats, token ids for Embedding; padded when masked.

    Masked: one sequence is all padding, the others keep at least one real step; post-padded
    only for a ``--lengths-input`` artifact, otherwise post-, pre-padded and gapped in turn (such
    an artifact finds the padding itself and must match Keras on each).
    """
    rng = np.random.default_rng(seed)
    full = (n,) + tuple(shape)
    if np.dtype(dtype).kind in "iu" or (mask is not None and mask.kind == "mask_zero"):
        vocab = next((int(layer.input_dim) for layer in plan_mod.flat_layers(model) if type(layer).__name__ == "Embedding"), 10)
        x = rng.integers(1, max(vocab, 2), size=full).astype(dtype)
    else:
        x = rng.standard_normal(full).astype(dtype)
    if mask is not None:
        pad = mask.mask_value if mask.kind == "masking" else 0
        steps = full[1]
        for i, length in enumerate(rng.integers(1, steps + 1, size=n)):
            layout = "post" if mask.lengths_input else ("post", "pre", "gaps")[i % 3]
            if layout == "post":
                x[i, length:] = pad
            elif layout == "pre":
                x[i, :steps - length] = pad
            else:  # random masked steps anywhere, at least one real step left
                padded = rng.random(steps) < 0.4
                padded[rng.integers(steps)] = False
                x[i, padded] = pad
        if n >= 4:  # and one sequence that is all padding (Keras: the LSTM's initial state)
            x[-1] = pad
    return x


def _npz_label_names(data: Any) -> list[str] | None:
    """Optional class names stored beside the data contract's arrays: a ``label_names`` or ``labels`` string array."""
    if not isinstance(data, (str, Path)) or not Path(data).is_file():
        return None
    with np.load(data, allow_pickle=False) as npz:
        key = next((k for k in ("label_names", "labels") if k in npz.files and npz[k].dtype.kind in "US"), None)
        return [str(v) for v in npz[key].tolist()] if key else None


@dataclass
class _Checks:
    """The parity inputs every artifact of one export is judged on."""

    x: Any  # an array, or {input name: array} for a model with several inputs
    y: np.ndarray | None
    where: str
    task: str | None
    reference: np.ndarray


def _parity_inputs(source: _Source, plan: plan_mod.ExportPlan, dataset: Dataset | None, cfg: ExportConfig) -> _Checks:
    from ..load.flavours import predict

    if dataset is not None:
        n = cfg.parity_samples or rows(dataset.x_test)
        x, y, where, task = take(dataset.x_test, slice(0, n)), dataset.y_test[:n], "x_test", dataset.task
    elif plan.inputs is not None:  # several inputs: each its own seeded inputs (token prefixes padded every way)
        n = min(cfg.parity_samples or 16, 16)
        masked = plan_mod.find_mask(source.tf_keras)
        x = {name: _random_inputs(source.tf_keras, shape, dtype, masked if name in plan.extra["input_ranges"] else None, n, cfg.seed + i)
             for i, (name, shape, dtype) in enumerate(plan.inputs)}
        y, where, task = None, f"random(seed={cfg.seed})", None
    else:
        shape = plan.input_shape if not plan.streaming else (plan.extra["sequence_length"],) + plan.input_shape
        x = _random_inputs(source.tf_keras, shape, plan.input_dtype, plan.mask, min(cfg.parity_samples or 16, 16), cfg.seed)
        y, where, task = None, f"random(seed={cfg.seed})", None
    return _Checks(x, y, where, task, predict(source.model, x))


def export_model(
    model_or_path: Any,
    out_dir: str | Path,
    config: ExportConfig | None = None,
    *,
    data: str | Path | Dataset | None = None,
    name: str | None = None,
    labels: Sequence[str] | None = None,
    preprocessing: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ExportResult]:
    """Export a Keras LSTM model to TFLite and/or ONNX, each artifact verified against the model.

    Writes ``<out_dir>/<name>.<quantization>[.stream].<format>`` plus ``<artifact>.json``.
    Parity runs on ``x_test`` of ``data`` (else seeded random inputs) through
    :class:`lstm_deploy.runtime.Model`, the same code apps use. An artifact that fails
    its check is not written (and a stale one of the same name is removed); after
    every requested artifact was tried, :class:`ParityError` lists all failures.

    Args:
        model_or_path: a Keras 3 / tf_keras model, or a model file (.keras/.h5/SavedModel).
        out_dir: output folder (created).
        config: :class:`ExportConfig` (formats, modes, budgets); the default exports fp32 TFLite and ONNX.
        data: ``.npz`` path or :class:`Dataset`: x_test/y_test for parity and metric,
            x_train for int8 calibration.
        name: artifact base name (default: model file stem or ``model``).
        labels / preprocessing: copied into the manifest for apps (``labels`` defaults to a
            ``label_names`` string array in the ``.npz``, when present).
        progress: receives one line per step.

    Raises:
        InputError (bad options / data), ExportError (conversion, unfused with
        require_fused), ParityError (an artifact missed its tolerance or budget).
    """
    cfg = config or ExportConfig()
    say = progress or (lambda _msg: None)
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise InputError(f"output folder {out_dir} is an existing file; pass a folder path with -o")
    arm64_env = None
    if cfg.verify_arch:  # set up (or refuse) before any conversion, not after
        from .arch import prepare

        arm64_env = prepare(cfg, say if progress else None)
    say("loading model")
    cfg = _with_intent(cfg, model_or_path, say)
    source = _resolve_model(model_or_path)
    model_shape = tuple(source.tf_keras.inputs[0].shape[1:])
    out_shape = tuple(source.tf_keras.outputs[0].shape[1:])  # class labels must fit the model's outputs
    multi = model_inputs(source.tf_keras) if len(source.tf_keras.inputs) > 1 else None
    dataset = data if isinstance(data, Dataset) or data is None else load_data(
        data, model_input_shape=None if multi else model_shape, model_output_shape=out_shape, model_inputs=multi)
    labels = labels or _npz_label_names(data)
    classes = int(out_shape[-1]) if out_shape and out_shape[-1] else None
    if labels and classes and classes > 1 and len(labels) != classes:
        raise InputError(f"labels: {len(labels)} class names ({', '.join(list(labels)[:5])}{', ...' if len(labels) > 5 else ''}) "
                         f"for a model with {classes} outputs; give one name per class (--labels or a 'labels' array in the .npz)")
    shape = tuple(dataset.x_test.shape[1:]) if dataset is not None and not multi else model_shape
    plan = plan_mod.build_plan(source.tf_keras, shape, streaming=cfg.streaming, lengths_input=cfg.lengths_input)
    checks = _parity_inputs(source, plan, dataset, cfg)
    say(f"ran the source model on {len(checks.x)} {checks.where} samples")

    calibration = None
    if ("tflite", "int8") in cfg.jobs():
        _refuse_unfused_int8(source.tf_keras)
    if "int8" in cfg.quantize and multi and dataset is None:
        raise InputError("--quantize int8 of a model with several inputs needs --data: every input is calibrated on x_train; "
                         "or use dynamic or float16")
    if "int8" in cfg.quantize:
        if dataset is not None:
            calibration = calibration_set(dataset.x_train, cfg.calibration_samples, cfg.seed)
        else:
            warnings.warn("int8: no --data given, calibrating on random inputs; accuracy of the int8 artifact is unknown", ExportWarning, stacklevel=2)
            calibration = _random_inputs(source.tf_keras, shape, plan.input_dtype, plan.mask, cfg.calibration_samples, cfg.seed + 1)

    extra = {"labels": list(labels) if labels else None, "preprocessing": preprocessing}
    results = []
    fp32_bytes: dict[str, int] = {}
    for fmt, quant in sorted(cfg.jobs(), key=lambda job: job[1] != "fp32"):  # fp32 first: the twin quantized sizes are judged against
        say(f"converting {fmt} {quant}")
        art = convert(plan, fmt, quant, calibration=calibration, batch_size=cfg.batch_size, opset=cfg.opset)
        if quant == "fp32":
            fp32_bytes.setdefault(fmt, art.size_bytes)
        results.append(_write_checked(art, cfg, source, Path(out_dir), name or source.name, checks,
                                      {**extra, **({"opset": cfg.opset} if fmt == "onnx" else {})}, fp32_bytes.get(fmt)))
    if cfg.verify_arch:  # the same parity check again, on emulated ARM64 CPUs
        from .arch import verify_arch

        results = verify_arch(arm64_env, results, checks, cfg, say if progress else None)
    failed = [r for r in results if not r.passed]
    if failed:
        raise ParityError(_failure_message(failed))
    return results


def _refuse_unfused_int8(model: Any) -> None:
    """Full-integer TFLite of a recurrence the converter cannot fuse is refused before any conversion.

    TensorFlow 2.21's int8 calibrator crashes the whole process (a segmentation fault, no Python
    error) on the generic ``WHILE`` loop such an LSTM becomes, e.g. one with ``use_bias=False``.
    """
    from ..load.layers import fusion_problems

    for layer in model.layers:
        why = fusion_problems(layer).get("tflite")
        if why:
            raise UnsupportedLayerError(f"--quantize int8: layer {layer.name!r} ({layer.__class__.__name__}) {why}; TensorFlow's int8 "
                                        "calibration crashes on such a loop -- use --quantize dynamic or float16, or ONNX")


def _with_intent(cfg: ExportConfig, model_or_path: Any, say: Callable[[str], None]) -> ExportConfig:
    """No modes asked for, and the model file says what it was prepared for (``quantize``): add that mode beside fp32."""
    from ..load.intent import export_modes

    if "quantize" in cfg.model_fields_set or not isinstance(model_or_path, (str, Path)):
        return cfg
    target = export_modes(model_or_path)
    if target is None or target[1] in cfg.quantize:
        return cfg
    fmt, mode = target
    if not any(mode in FORMATS[f].quantizations for f in cfg.formats):
        return cfg
    say(f"{Path(model_or_path).name} was trained by quantize for {fmt} {mode}: exporting {mode} beside fp32 (--quantize chooses other modes)")
    return cfg.replace(quantize=(*cfg.quantize, mode))  # type: ignore[return-value]


def _failure_message(failed: list[ExportResult]) -> str:
    hints = []
    if any(r.arch for r in failed):  # right on x86, wrong on an emulated ARM64 CPU (export/arch.py)
        hints.append("ARM64: the artifact passed on x86 but not on that emulated CPU model, so an ARM64 kernel computes it "
                     "differently -- do not ship it to that CPU class (docs/arm64.md)")
    on_x86 = [r for r in failed if not r.arch]
    if any(r.quantization == "fp32" for r in on_x86):
        hints.append("fp32: correct fused kernels stay below 1e-6 (benchmarks/fp32_gate.py), so a larger error usually "
                     "means a conversion fault (state, masking, weights); if the metric is unchanged and you accept the "
                     "difference, raise --fp32-tolerance")
    if any(r.quantization != "fp32" for r in on_x86):
        hints.append("quantized: raise --max-metric-drop or use a lighter mode (float16, dynamic)")
    return ("parity failed: " + "; ".join(f"{r.format} {r.quantization}: {r.parity.message}" for r in failed)
            + " -- no artifact was written for these; " + "; ".join(hints))


def _write_checked(art: Converted, cfg: ExportConfig, source: _Source, out_dir: Path, stem: str, checks: _Checks,
                   extra: dict[str, Any], fp32_bytes: int | None = None) -> ExportResult:
    """Run ``art`` through the runtime on the parity inputs; write artifact + manifest only when it passes.

    A quantized mode whose converter left every weight in float is not written (it would be the
    fp32 artifact under a quantized name); a quantized artifact not smaller than its fp32 twin is flagged.
    """
    notes: list[str] = []
    counted = weights_mod.weight_dtypes(art.data, art.format)
    skip = weights_mod.unquantized_note(art.format, art.quantization, counted)
    if fp32_bytes is not None and art.quantization != "fp32" and art.size_bytes >= fp32_bytes and not skip:
        message = (f"{art.format} {art.quantization}: {art.size_bytes / 1024:.1f} KB, not smaller than the fp32 artifact "
                   f"({fp32_bytes / 1024:.1f} KB); quantization does not pay off for this model")
        warnings.warn(message, ExportWarning, stacklevel=3)
        notes.append(message)
        counted = {**counted, "larger_than_fp32": True}
    if not cfg.streaming and not art.fused:
        message = f"{art.format} {art.quantization}: LSTM not fused -- {art.fusion['reason']}"
        if cfg.require_fused:
            raise ExportError(message + " (--require-fused)")
        warnings.warn(message, ExportWarning, stacklevel=3)
        notes.append(message)
    target = out_dir / f"{stem}.{art.quantization}{'.stream' if cfg.streaming else ''}{FORMATS[art.format].suffix}"
    mtarget = manifest_mod.manifest_path(target)
    manifest = manifest_mod.build_manifest(artifact=target, converted=art, source=source.info, extra=extra)
    try:
        model = load_artifact(art)
        produced = _stream_predict(model, checks.x, checks.reference) if cfg.streaming else model.predict(checks.x)
    except runtime.RuntimeError_ as exc:
        raise DataError(f"{checks.where}: {exc}") from None
    manifest["inputs"] = [i.to_dict() for i in model.inputs.values()]
    manifest["outputs"] = [o.to_dict() for o in model.outputs.values()]
    report = compare(checks.reference, produced, quantization=art.quantization, inputs=checks.where, labels=checks.y, task=checks.task,
                     max_metric_drop=cfg.max_metric_drop, fp32_tolerance=cfg.fp32_tolerance)
    manifest["parity"] = report.to_dict()
    manifest["weights"] = counted
    if not report.passed or skip:
        for stale in (target, mtarget):  # an older artifact of this name no longer matches this model
            stale.unlink(missing_ok=True)
        return ExportResult(None, None, art.format, art.quantization, cfg.streaming, art.size_bytes, art.fused, report, tuple(notes),
                            counted, skip)
    with atomic_path(target) as tmp, atomic_path(mtarget) as mtmp:
        tmp.write_bytes(art.data)
        mtmp.write_text(manifest_mod.dumps(manifest), encoding="utf-8")
    return ExportResult(target, mtarget, art.format, art.quantization, cfg.streaming, art.size_bytes, art.fused, report, tuple(notes), counted)


def _stream_predict(model: runtime.Model, x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Step every sequence through a streaming artifact; outputs shaped like ``reference``."""
    seq = model.stream_predict(x)
    return seq if reference.ndim == seq.ndim else seq[:, -1]
