"""TFLite (LiteRT) conversion with fused LSTM kernels and the four quantization modes.

Route (see shared FACTS): a **fixed-batch** concrete function of the tf_keras export
graph, converted with ``TFLiteConverter.from_concrete_functions``. The trackable
handed to the converter is a bare ``tf.Module`` holding exactly the function's
variables: handing it the Keras model makes the converter re-trace every Keras
serving function (3-4x slower; attaching the function itself costs 2x), and leaving variables untracked silently loses the
LSTM fusion (``WHILE`` instead of ``UNIDIRECTIONAL_SEQUENCE_LSTM``).

Example:
    >>> data = convert_tflite(plan, "fp32", batch_size=1)      # doctest: +SKIP
    >>> "UNIDIRECTIONAL_SEQUENCE_LSTM" in tflite_ops(data)     # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .. import _tf
from ..errors import ExportError
from .lstm_flatbuffer import lstm_cell_clips, repair_integer_lstms, unclip_lstm_cells
from .plan import INPUT, LENGTHS, ExportPlan

__all__ = ["FUSED_OPS", "QUANTIZATIONS", "UNFUSED_MARKERS", "convert_tflite", "fusion_report", "lstm_cell_clips", "repair_integer_lstms",
           "tflite_ops", "unclip_lstm_cells"]

QUANTIZATIONS = ("fp32", "float16", "dynamic", "int8")
FUSED_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM")
UNFUSED_MARKERS = ("WHILE",)


def tflite_ops(data: bytes) -> list[str]:
    """Operator names used by a ``.tflite`` flatbuffer (custom ops as ``CUSTOM:<name>``).

    Example:
        >>> tflite_ops(open("m.tflite", "rb").read())   # doctest: +SKIP
        ['UNIDIRECTIONAL_SEQUENCE_LSTM', 'FULLY_CONNECTED', 'SOFTMAX']
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(data, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            ops.append("CUSTOM:" + (code.CustomCode() or b"?").decode())
        else:
            ops.append(names.get(builtin, str(builtin)))
    return ops


def convert_tflite(
    plan: ExportPlan,
    quantization: str,
    *,
    batch_size: int = 1,
    calibration: Iterable[np.ndarray] | None = None,
) -> bytes:
    """Convert ``plan`` to a ``.tflite`` flatbuffer.

    Args:
        plan: the export graph (:func:`lstm_deploy.export.graph.build_plan`).
        quantization: ``fp32`` | ``float16`` (fp16 weights) | ``dynamic`` (int8 weights,
            float activations) | ``int8`` (full integer, int8 input/output; needs ``calibration``).
        batch_size: the artifact's fixed batch.
        calibration: for ``int8``, single samples (no batch axis) of the model input.
    """
    tf = _tf.tf()
    if quantization not in QUANTIZATIONS:
        raise ExportError(f"quantization {quantization!r} is not available for tflite; expected one of {', '.join(QUANTIZATIONS)}")
    fn = plan.fn
    if quantization == "int8" and "integer_fn" in plan.extra:  # masked / several inputs: masks stay integer (export.masked)
        fn = plan.extra["integer_fn"]()
    concrete = tf.function(fn).get_concrete_function(*plan.signature(batch_size))
    module = tf.Module()  # holds only the variables: attaching the function doubles the converter's save time
    module.variables_ = list(concrete.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    if quantization != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        if calibration is None:
            raise ExportError("int8 quantization needs calibration samples; pass --data with x_train")
        samples = [] if plan.inputs is not None else [np.asarray(s) for s in calibration]
        dtype = np.dtype(plan.input_dtype)

        def batches() -> Iterator[Any]:
            if plan.inputs is not None:  # several inputs: {name: samples}, fed by name
                yield from _named_batches(plan, calibration, batch_size)
            for s in samples:
                x = np.repeat(s[None], batch_size, 0).astype(dtype)
                if plan.mask is not None and plan.mask.lengths_input:  # by name: int32 lengths, never quantized
                    yield {INPUT: x, LENGTHS: np.full(batch_size, _real_steps(s, plan.mask), np.int32)}
                else:
                    yield [x]

        converter.representative_dataset = batches
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if dtype.kind == "f" and plan.inputs is None:  # several inputs keep their float / int32 types (quantized inside)
            converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with _tf.silenced_converter():
            data = bytes(converter.convert())
    except Exception as exc:  # converter errors are many types; report one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ExportError(f"TFLite conversion ({quantization}) failed: {first}") from exc
    return repair_integer_lstms(data) if quantization == "int8" else unclip_lstm_cells(data)


def _named_batches(plan: ExportPlan, calibration: dict[str, np.ndarray], batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Calibration batches of a several-input plan, by input name."""
    from ..load.dataset import rows

    for i in range(rows(calibration)):
        yield {name: np.repeat(np.asarray(calibration[name][i])[None], batch_size, 0).astype(dtype) for name, _, dtype in plan.inputs or []}


def _real_steps(sample: np.ndarray, mask: Any) -> int:
    """Real (unpadded) steps of one calibration sample of a masked model."""
    pad = sample == (0 if mask.kind == "mask_zero" else mask.mask_value)
    return int((~pad.reshape(len(sample), -1).all(axis=1)).sum())


def fusion_report(ops: list[str], lstm_count: int) -> dict[str, Any]:
    """Whether the LSTMs reached the fused kernels, and if not, why it matters."""
    fused_ops = [op for op in ops if op in FUSED_OPS]
    flex = [op for op in ops if op.startswith("CUSTOM:Flex")]
    loops = [op for op in ops if op in UNFUSED_MARKERS]
    fused = not flex and not loops and (lstm_count == 0 or bool(fused_ops))
    reason = None
    if not fused:
        if flex:
            reason = f"Flex ops {flex} need the TensorFlow runtime, which LiteRT apps do not have"
        elif loops:
            reason = ("the LSTM was converted as a WHILE loop (unsupported configuration, e.g. RNN(LSTMCell), unroll, "
                      "GRU/SimpleRNN): it runs several times slower than the fused kernel and cannot use XNNPACK")
        else:
            reason = "no fused LSTM op was produced (e.g. unroll=True unrolls the LSTM into many small ops; slower and larger)"
    return {"fused": fused, "fused_ops": sorted(set(fused_ops)), "reason": reason}
