"""The artifact core: every TFLite / ONNX conversion in lstm-deploy goes through :func:`convert`.

``export_model`` (which adds parity and manifests), the QAT side-by-side table, prune's
latency figure and the deployment search all call it, so they judge exactly the artifact
``lstm-deploy export`` would write: the same export graph (masked models included), the
same converter settings, the same calibration samples, the same op check.

Example:
    >>> art = convert(tfk_model, "tflite", "int8", calibration=calibration_set(x_train))  # doctest: +SKIP
    >>> art.fused, art.ops[:1]                                                           # doctest: +SKIP
    (True, ['UNIDIRECTIONAL_SEQUENCE_LSTM'])
    >>> load_artifact(art).predict(x_test).shape                                         # doctest: +SKIP
    (40, 4)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _tf, runtime
from . import onnx as onnx_mod
from . import tflite as tflite_mod
from .manifest import runtime_fields
from .plan import ExportPlan, build_plan

#: Calibration samples for full-integer int8 (export and QAT use the same ones).
CALIBRATION_SAMPLES = 200


@dataclass(frozen=True)
class ExportFormat:
    """A registered export route and what it can do."""

    name: str
    suffix: str
    quantizations: tuple[str, ...]
    fixed_batch: bool
    convert: Callable[[ExportPlan, str, int, int, Any], bytes]
    ops: Callable[[bytes], list[str]]
    fusion: Callable[[list[str], int], dict[str, Any]]


def _tflite(plan: ExportPlan, quantization: str, batch_size: int, opset: int, calibration: Any) -> bytes:
    return tflite_mod.convert_tflite(plan, quantization, batch_size=batch_size, calibration=calibration)


def _onnx(plan: ExportPlan, quantization: str, batch_size: int, opset: int, calibration: Any) -> bytes:
    return onnx_mod.convert_onnx(plan, quantization, opset=opset)


#: Export routes by name; adding a format is one entry (plus its module).
FORMATS: dict[str, ExportFormat] = {
    "tflite": ExportFormat("tflite", ".tflite", tflite_mod.QUANTIZATIONS, True, _tflite, tflite_mod.tflite_ops, tflite_mod.fusion_report),
    "onnx": ExportFormat("onnx", ".onnx", onnx_mod.QUANTIZATIONS, False, _onnx, onnx_mod.onnx_ops, onnx_mod.fusion_report),
}
QUANTIZATIONS = ("fp32", "float16", "dynamic", "int8")


@dataclass(frozen=True)
class Converted:
    """One converted artifact, in memory, with the ops it contains and whether its LSTMs fused."""

    data: bytes
    format: str
    quantization: str
    batch_size: int | None
    ops: list[str]
    fusion: dict[str, Any]
    plan: ExportPlan = field(repr=False)

    @property
    def fused(self) -> bool:
        return bool(self.fusion["fused"])

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def calibration_set(x_train: Any, n: int = CALIBRATION_SAMPLES, seed: int = 0) -> Any:
    """The int8 calibration samples: ``n`` training sequences chosen with ``seed`` (all when fewer), in data order.

    ``x_train`` is an array or, for a model with several inputs, ``{input name: array}``
    (the same samples are taken from every input).
    """
    from ..load.dataset import rows, take

    total = rows(x_train)
    if total <= n:
        return x_train
    return take(x_train, np.sort(np.random.default_rng(seed).choice(total, n, replace=False)))


def convert(
    model: Any,
    fmt: str,
    quantization: str = "fp32",
    *,
    calibration: np.ndarray | None = None,
    batch_size: int = 1,
    opset: int = 17,
    input_shape: tuple[int, ...] | None = None,
    streaming: bool = False,
) -> Converted:
    """Convert a tf_keras ``model`` (or a prepared :class:`ExportPlan`) into ``fmt`` at ``quantization``.

    Args:
        model: a tf_keras model (bridge Keras 3 models first) or an ``ExportPlan``.
        fmt: ``tflite`` or ``onnx`` (see :data:`FORMATS`).
        quantization: ``fp32`` | ``float16`` | ``dynamic`` | ``int8`` (what the format has).
        calibration: int8 only: single samples of the model input (:func:`calibration_set`).
        batch_size: the fixed batch of TFLite artifacts (ONNX batch is dynamic).
        opset: ONNX opset.
        input_shape / streaming: passed to :func:`~lstm_deploy.export.plan.build_plan`.

    Raises:
        ExportError: the converter failed. An unfused LSTM is *reported* in ``fusion``, not raised.
    """
    plan = model if isinstance(model, ExportPlan) else build_plan(model, input_shape, streaming=streaming)
    route = FORMATS[fmt]
    data = route.convert(plan, quantization, batch_size, opset, calibration)
    ops = route.ops(data)
    fusion = route.fusion(ops, 0 if plan.streaming else plan.lstm_count)
    if plan.streaming:
        fusion = {**fusion, "fused": False, "reason": "streaming artifacts run one explicit LSTM cell step per call (no sequence kernel needed)"}
    return Converted(data, fmt, quantization, batch_size if route.fixed_batch else None, ops, fusion, plan)


def load_artifact(art: Converted, *, num_threads: int | None = None) -> runtime.Model:
    """Run a converted artifact from memory through :class:`lstm_deploy.runtime.Model` (what apps run).

    LiteRT announces its XNNPACK delegate on stderr when an interpreter is created; inside
    lstm-deploy's own commands that line is noise, so it is silenced here (the runtime
    module itself stays free of TensorFlow helpers).
    """
    with _tf.silenced_stderr():
        return runtime.Model(art.data, runtime_fields(art.plan, art.format), num_threads=num_threads,
                             name=f"<{art.format} {art.quantization}>")
