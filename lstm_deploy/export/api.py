"""``export_model``: convert, verify parity, write artifact + manifest atomically.

Example:
    >>> results = export_model("model.keras", "out", formats=("tflite", "onnx"),
    ...                        quantize=("fp32", "dynamic"), data="data.npz")   # doctest: +SKIP
    >>> [(r.artifact.name, r.parity.passed) for r in results]                   # doctest: +SKIP
    [('model.fp32.tflite', True), ('model.dynamic.tflite', True), ...]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import runtime
from ..atomic import atomic_path
from ..load.dataset import Dataset, load_data
from ..errors import DataError, ExportError, InputError, ParityError
from . import plan as graph_mod
from . import manifest as manifest_mod
from . import onnx as onnx_mod
from . import tflite as tflite_mod
from .parity import FP32_TOLERANCE, ParityReport, compare


class ExportWarning(UserWarning):
    """A non-fatal export problem (unfused LSTM, int8 calibrated on random inputs)."""


@dataclass(frozen=True)
class ExportFormat:
    """A registered export route and what it can do."""

    name: str
    suffix: str
    quantizations: tuple[str, ...]
    fixed_batch: bool
    convert: Callable[..., bytes]
    ops: Callable[[bytes], list[str]]
    fusion: Callable[[list[str], int], dict[str, Any]]


def _convert_tflite(plan: graph_mod.ExportPlan, quantization: str, cfg: ExportConfig, calibration: Any) -> bytes:
    return tflite_mod.convert_tflite(plan, quantization, batch_size=cfg.batch_size, calibration=calibration)


def _convert_onnx(plan: graph_mod.ExportPlan, quantization: str, cfg: ExportConfig, calibration: Any) -> bytes:
    return onnx_mod.convert_onnx(plan, quantization, opset=cfg.opset)


#: Export routes by name; adding a format is one entry (plus its module).
FORMATS: dict[str, ExportFormat] = {
    "tflite": ExportFormat("tflite", ".tflite", tflite_mod.QUANTIZATIONS, True, _convert_tflite, tflite_mod.tflite_ops, tflite_mod.fusion_report),
    "onnx": ExportFormat("onnx", ".onnx", onnx_mod.QUANTIZATIONS, False, _convert_onnx, onnx_mod.onnx_ops, onnx_mod.fusion_report),
}
QUANTIZATIONS = ("fp32", "float16", "dynamic", "int8")


@dataclass(frozen=True)
class ExportConfig:
    """Everything that shapes an export (validated on construction)."""

    formats: tuple[str, ...] = ("tflite", "onnx")
    quantize: tuple[str, ...] = ("fp32",)
    batch_size: int = 1
    opset: int = 17
    calibration_samples: int = 100
    max_metric_drop: float | None = None
    fp32_tolerance: float = FP32_TOLERANCE
    require_fused: bool = False
    streaming: bool = False
    parity_samples: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.formats:
            raise InputError("formats: expected at least one of " + ", ".join(FORMATS) + ", got none")
        for fmt in self.formats:
            if fmt not in FORMATS:
                raise InputError(f"format {fmt!r} is unknown; expected one of {', '.join(FORMATS)}")
        if not self.quantize:
            raise InputError(f"--quantize: expected at least one of {', '.join(QUANTIZATIONS)}, got none")
        for q in self.quantize:
            if q not in QUANTIZATIONS:
                raise InputError(f"--quantize: {q!r} is unknown; expected one of {', '.join(QUANTIZATIONS)}")
            if not any(q in FORMATS[fmt].quantizations for fmt in self.formats):
                supported = "; ".join(f"{fmt}: {', '.join(FORMATS[fmt].quantizations)}" for fmt in self.formats)
                raise InputError(f"--quantize {q}: not available for {' or '.join(self.formats)} (supported: {supported}); "
                                 "choose another mode or add a format that has it")
        if self.batch_size < 1:
            raise InputError(f"--batch-size: expected a positive integer, got {self.batch_size}")
        if not 13 <= self.opset <= 18:
            raise InputError(f"--opset: expected an ONNX opset between 13 and 18, got {self.opset}")
        if self.calibration_samples < 1:
            raise InputError(f"--calibration-samples: expected a positive integer, got {self.calibration_samples}")
        if self.max_metric_drop is not None and not self.max_metric_drop >= 0:
            raise InputError(f"--max-metric-drop: expected a number >= 0 (0.01 = 1 accuracy point), got {self.max_metric_drop}")
        if not self.fp32_tolerance > 0:
            raise InputError(f"--fp32-tolerance: expected a positive number (default {FP32_TOLERANCE:g}), got {self.fp32_tolerance}")
        if self.streaming and "int8" in self.quantize:
            raise InputError("--quantize int8 with --streaming is not supported (the state inputs would need calibration); "
                             "use fp32, float16 or dynamic")
        if self.parity_samples < 1:
            raise InputError(f"parity_samples: expected a positive integer, got {self.parity_samples}")


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

    @property
    def passed(self) -> bool:
        return self.parity.passed


@dataclass
class _Source:
    model: Any  # the user's model (either flavour)
    tf_keras: Any
    info: dict[str, Any]
    name: str


def _resolve_model(model_or_path: Any) -> _Source:
    from ..load import flavours as bridge
    from ..load import modelio
    from ..load.layers import check_supported

    if isinstance(model_or_path, (str, Path)):
        loaded = modelio.load_model(model_or_path)
        info = {"path": str(loaded.path), "sha256": loaded.sha256, "flavour": loaded.flavour,
                "canonicalized": loaded.canonical_changes()}
        return _Source(loaded.model, loaded.tf_keras_model(), info, Path(model_or_path).name.split(".")[0] or "model")
    if not hasattr(model_or_path, "layers") or not hasattr(model_or_path, "inputs"):
        raise InputError(f"model: expected a Keras model or a model file path, got {type(model_or_path).__name__}")
    flavour = bridge.flavour_of(model_or_path)
    check_supported(model_or_path.layers)
    canonical, changes = bridge.canonicalize(model_or_path)
    tfk = bridge.to_tf_keras(canonical, canonical=False) if flavour == "keras3" else canonical
    info = {"path": None, "sha256": None, "flavour": flavour, "canonicalized": changes}
    return _Source(model_or_path, tfk, info, "model")


def _source_predict(model: Any, x: np.ndarray, chunk: int = 256) -> np.ndarray:
    """The source model's outputs (direct eager calls: much faster than ``predict`` for a few samples).

    Stateful models run in chunks of their fixed batch, from zero state each time.
    """
    stateful = [layer for layer in graph_mod._flat_layers(model) if getattr(layer, "stateful", False)]
    fixed = model.inputs[0].shape[0] if stateful else None
    step = fixed or chunk
    outs = []
    for start in range(0, len(x), step):
        xb = x[start:start + step]
        n = len(xb)
        if fixed and n < fixed:
            xb = np.concatenate([xb, np.zeros((fixed - n,) + xb.shape[1:], xb.dtype)])
        for layer in stateful:
            layer.reset_states()
        y = model(xb, training=False)
        if isinstance(y, (list, tuple, dict)):
            raise InputError(f"model has {len(y)} outputs; export supports single-output models")
        outs.append(np.asarray(y)[:n])
    for layer in stateful:  # leave the user's model as we found it: zero state
        layer.reset_states()
    return np.concatenate(outs)


def _random_inputs(model: Any, shape: tuple[int, ...], dtype: str, mask: graph_mod.MaskSpec | None, n: int, seed: int) -> np.ndarray:
    """Seeded inputs of per-sample ``shape``: normal floats, token ids for Embedding, post-padded when masked."""
    rng = np.random.default_rng(seed)
    full = (n,) + tuple(shape)
    if np.dtype(dtype).kind in "iu" or (mask is not None and mask.kind == "mask_zero"):
        vocab = next((int(l.input_dim) for l in graph_mod._flat_layers(model) if type(l).__name__ == "Embedding"), 10)
        x = rng.integers(1, max(vocab, 2), size=full).astype(dtype)
    else:
        x = rng.standard_normal(full).astype(dtype)
    if mask is not None:  # post-padded, random lengths (at least one real step)
        lengths = rng.integers(1, full[1] + 1, size=n)
        pad = mask.mask_value if mask.kind == "masking" else 0
        for i, length in enumerate(lengths):
            x[i, length:] = pad
    return x


def _npz_label_names(data: Any) -> list[str] | None:
    """Optional ``label_names`` array (strings) stored beside the data contract's arrays."""
    if not isinstance(data, (str, Path)) or not Path(data).is_file():
        return None
    with np.load(data, allow_pickle=False) as npz:
        if "label_names" not in npz.files or npz["label_names"].dtype.kind not in "US":
            return None
        return [str(v) for v in npz["label_names"].tolist()]


def _load_dataset(data: Any, input_shape: Sequence[int | None]) -> Dataset | None:
    if data is None or isinstance(data, Dataset):
        return data
    return load_data(data, model_input_shape=input_shape)


def export_model(
    model_or_path: Any,
    out_dir: str | Path,
    formats: Iterable[str] = ("tflite", "onnx"),
    quantize: Iterable[str] = ("fp32",),
    data: str | Path | Dataset | None = None,
    batch_size: int = 1,
    *,
    opset: int = 17,
    calibration_samples: int = 100,
    max_metric_drop: float | None = None,
    fp32_tolerance: float = FP32_TOLERANCE,
    require_fused: bool = False,
    streaming: bool = False,
    parity_samples: int = 256,
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
        model_or_path: a Keras 3 / tf_keras model, or a model file (.keras/.h5).
        out_dir: output folder (created).
        formats: any of ``tflite``, ``onnx``.
        quantize: modes; tflite: fp32/float16/dynamic/int8, onnx: fp32/dynamic. A mode is applied
            to every requested format that has it (others are skipped with an ExportWarning);
            a mode no requested format has is an InputError.
        data: ``.npz`` path or :class:`Dataset`: x_test/y_test for parity and metric,
            x_train for int8 calibration.
        batch_size: fixed batch of TFLite artifacts (ONNX batch is dynamic).
        opset: ONNX opset.
        calibration_samples: x_train samples used to calibrate int8.
        max_metric_drop: quantized budget (accuracy drop, e.g. 0.01; or relative MAE increase).
        fp32_tolerance: fp32 budget on ``max|artifact - model| / max|model|`` (default 1e-5).
        require_fused: raise :class:`ExportError` instead of warning when an LSTM is not fused.
        streaming: export single-step models with explicit h/c state instead.
        parity_samples: at most this many x_test samples are compared.
        name: artifact base name (default: model file stem or ``model``).
        labels / preprocessing: copied into the manifest for apps (``labels`` defaults to a
            ``label_names`` string array in the ``.npz``, when present).

    Raises:
        InputError (bad options / data), ExportError (conversion, unfused with
        require_fused), ParityError (an artifact missed its tolerance or budget).
    """
    cfg = ExportConfig(formats=tuple(dict.fromkeys(formats)), quantize=tuple(dict.fromkeys(quantize)), batch_size=batch_size,
                       opset=opset, calibration_samples=calibration_samples, max_metric_drop=max_metric_drop,
                       fp32_tolerance=fp32_tolerance, require_fused=require_fused, streaming=streaming, parity_samples=parity_samples)
    say = progress or (lambda _msg: None)
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise InputError(f"output folder {out_dir} is an existing file; pass a folder path with -o")
    say("loading model")
    source = _resolve_model(model_or_path)
    model_shape = tuple(source.tf_keras.inputs[0].shape[1:])
    dataset = _load_dataset(data, model_shape)
    labels = labels or _npz_label_names(data)
    shape = tuple(dataset.x_test.shape[1:]) if dataset is not None else model_shape
    plan = graph_mod.build_plan(source.tf_keras, shape, streaming=cfg.streaming)

    mask = graph_mod.find_mask(source.tf_keras)
    if dataset is not None:
        x_par, y_par, where = dataset.x_test[: cfg.parity_samples], dataset.y_test[: cfg.parity_samples], "x_test"
        task: str | None = dataset.task
    else:
        n = min(cfg.parity_samples, 16)
        x_par = _random_inputs(source.tf_keras, shape, plan.input_dtype, mask, n, cfg.seed)
        y_par, where, task = None, f"random(seed={cfg.seed})", None
    say(f"running the source model on {len(x_par)} {where} samples")
    reference = _source_predict(source.model, x_par)

    calibration = None
    if "int8" in cfg.quantize:
        if dataset is not None:
            calibration = dataset.x_train[: cfg.calibration_samples]
        else:
            warnings.warn("int8: no --data given, calibrating on random inputs; accuracy of the int8 artifact is unknown", ExportWarning, stacklevel=2)
            calibration = _random_inputs(source.tf_keras, shape, plan.input_dtype, mask, cfg.calibration_samples, cfg.seed + 1)

    out_dir = Path(out_dir)
    stem = name or source.name
    results: list[ExportResult] = []
    for fmt_name in cfg.formats:
        fmt = FORMATS[fmt_name]
        for quant in cfg.quantize:
            if quant not in fmt.quantizations:
                warnings.warn(f"{fmt_name}: skipping --quantize {quant} (available for {fmt_name}: {', '.join(fmt.quantizations)})",
                              ExportWarning, stacklevel=2)
                continue
            say(f"converting {fmt_name} {quant}")
            results.append(_export_one(fmt, quant, cfg, plan, source, calibration, out_dir, stem, x_par, y_par, where, task,
                                       reference, {"labels": list(labels) if labels else None, "preprocessing": preprocessing}))
    failed = [r for r in results if not r.passed]
    if failed:
        hints = []
        if any(r.quantization == "fp32" for r in failed):
            hints.append("fp32: if the metric is unchanged this is the runtime kernel's own float error (LiteRT's fused LSTM "
                         "uses approximate sigmoid/tanh; it grows with sequence length and input scale -- normalize inputs) "
                         "and can be accepted with --fp32-tolerance")
        if any(r.quantization != "fp32" for r in failed):
            hints.append("quantized: raise --max-metric-drop or use a lighter mode (float16, dynamic)")
        raise ParityError("parity failed: " + "; ".join(f"{r.format} {r.quantization}: {r.parity.message}" for r in failed)
                          + " -- no artifact was written for these; " + "; ".join(hints))
    return results


class _Discard(Exception):
    """Internal: abort an atomic write (parity failed)."""


def _export_one(
    fmt: ExportFormat, quant: str, cfg: ExportConfig, plan: graph_mod.ExportPlan, source: _Source, calibration: Any,
    out_dir: Path, stem: str, x_par: np.ndarray, y_par: np.ndarray | None, where: str, task: str | None,
    reference: np.ndarray, extra: dict[str, Any],
) -> ExportResult:
    data = fmt.convert(plan, quant, cfg, calibration)
    ops = fmt.ops(data)
    fusion = fmt.fusion(ops, 0 if cfg.streaming else plan.lstm_count)
    notes: list[str] = []
    if cfg.streaming:
        fusion = {**fusion, "fused": False, "reason": "streaming artifacts run one explicit LSTM cell step per call (no sequence kernel needed)"}
    elif not fusion["fused"]:
        message = f"{fmt.name} {quant}: LSTM not fused -- {fusion['reason']}"
        if cfg.require_fused:
            raise ExportError(message + " (--require-fused)")
        warnings.warn(message, ExportWarning, stacklevel=3)
        notes.append(message)
    suffix = (".stream" if cfg.streaming else "") + fmt.suffix
    target = out_dir / f"{stem}.{quant}{suffix}"
    mtarget = manifest_mod.manifest_path(target)
    streaming = None
    if cfg.streaming:
        streaming = {"states": [{k: s[k] for k in ("input", "output", "units", "layer", "kind")} for s in plan.streaming or []],
                     "sequence_length": plan.extra.get("sequence_length")}
    manifest = manifest_mod.build_manifest(
        artifact=target, data=data, fmt=fmt.name, quantization=quant, batch_size=cfg.batch_size if fmt.fixed_batch else None,
        inputs=[], outputs=[], masking=plan.mask.to_manifest() if plan.mask else None, streaming=streaming, fusion=fusion,
        ops=ops, source=source.info, extra={**extra, **({"opset": cfg.opset} if fmt.name == "onnx" else {})},
    )
    report: ParityReport | None = None  # set before _Discard can be raised
    try:
        with atomic_path(target) as tmp, atomic_path(mtarget) as mtmp:
            tmp.write_bytes(data)
            try:
                model = runtime.Model(tmp, manifest)
                produced = _stream_predict(model, x_par, reference) if cfg.streaming else model.predict(x_par)
            except runtime.RuntimeError_ as exc:
                raise DataError(f"{where}: {exc}") from None
            manifest["inputs"] = [i.to_dict() for i in model.inputs.values()]
            manifest["outputs"] = [o.to_dict() for o in model.outputs.values()]
            report = compare(reference, produced, quantization=quant, inputs=where, labels=y_par, task=task,
                             max_metric_drop=cfg.max_metric_drop, fp32_tolerance=cfg.fp32_tolerance)
            manifest["parity"] = report.to_dict()
            if not report.passed:
                raise _Discard
            mtmp.write_text(manifest_mod.dumps(manifest), encoding="utf-8")
    except _Discard:
        for stale in (target, mtarget):
            stale.unlink(missing_ok=True)
        return ExportResult(None, None, fmt.name, quant, cfg.streaming, len(data), bool(fusion["fused"]), report, tuple(notes))  # type: ignore[arg-type]
    return ExportResult(target, mtarget, fmt.name, quant, cfg.streaming, len(data), bool(fusion["fused"]), report, tuple(notes))


def _stream_predict(model: runtime.Model, x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Step every sequence through a streaming artifact; outputs shaped like ``reference``."""
    batch = model.batch_size or len(x)
    outs = []
    for start in range(0, len(x), batch):
        xb = x[start:start + batch]
        n = len(xb)
        if n < batch:
            xb = np.concatenate([xb, np.zeros((batch - n,) + xb.shape[1:], xb.dtype)])
        stream = model.stream()
        steps = [stream.step(xb[:, t]) for t in range(xb.shape[1])]
        outs.append(np.stack(steps, axis=1)[:n])
    seq = np.concatenate(outs)
    return seq if reference.ndim == seq.ndim else seq[:, -1]
