"""ONNX conversion through tf2onnx, plus onnxruntime dynamic quantization.

Route (see shared FACTS): ``tf2onnx.convert.from_function`` over the tf_keras export
graph with an explicit input signature whose batch axis is ``None``
(``from_keras`` fails on Keras 3 models). Masked models go through the exact
post-padding graph (:mod:`lstm_deploy.export.plan`), so their LSTMs fuse too instead of
becoming a ``Loop``. ``dynamic`` runs ``onnxruntime.quantization.quantize_dynamic``:
int8 weights, LSTMs become ``DynamicQuantizeLSTM``.

Example:
    >>> data = convert_onnx(plan, "fp32", opset=17)         # doctest: +SKIP
    >>> "LSTM" in onnx_ops(data)                              # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from .. import _tf
from ..errors import ExportError
from .plan import ExportPlan

QUANTIZATIONS = ("fp32", "dynamic")
FUSED_OPS = ("LSTM", "DynamicQuantizeLSTM")
UNFUSED_MARKERS = ("Loop", "Scan")


def onnx_ops(data: bytes) -> list[str]:
    """Operator types used by an ONNX model's main graph (unique, in first-use order)."""
    import onnx

    model = onnx.load_from_string(data)
    return list(dict.fromkeys(node.op_type for node in model.graph.node))


def convert_onnx(plan: ExportPlan, quantization: str, *, opset: int = 17) -> bytes:
    """Convert ``plan`` to ONNX bytes (dynamic batch axis), checked with ``onnx.checker``.

    Args:
        plan: the export graph.
        quantization: ``fp32`` or ``dynamic`` (onnxruntime dynamic int8 quantization).
        opset: ONNX opset (tf2onnx supports 13-18).
    """
    tf = _tf.tf()
    import onnx
    import tf2onnx

    if quantization not in QUANTIZATIONS:
        raise ExportError(f"quantization {quantization!r} is not available for onnx; expected one of {', '.join(QUANTIZATIONS)}")
    try:
        proto, _ = tf2onnx.convert.from_function(tf.function(plan.fn), input_signature=plan.signature(None), opset=opset)
    except Exception as exc:  # tf2onnx raises many types; report one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ExportError(f"ONNX conversion (opset {opset}) failed: {first}") from exc
    _rename_io(proto)
    data = proto.SerializeToString()
    if quantization == "dynamic":
        data = _quantize_dynamic(data)
    try:
        onnx.checker.check_model(onnx.load_from_string(data))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"ONNX model failed onnx.checker: {str(exc).splitlines()[0]}") from exc
    return data


def _rename_io(proto: Any) -> None:
    """Strip tf2onnx's ``:0`` suffixes so inputs/outputs carry the signature's names."""
    renames = {}
    for value in list(proto.graph.input) + list(proto.graph.output):
        if ":" in value.name:
            renames[value.name] = value.name.split(":")[0]
            value.name = renames[value.name]
    if renames:
        for node in proto.graph.node:
            node.input[:] = [renames.get(n, n) for n in node.input]
            node.output[:] = [renames.get(n, n) for n in node.output]


def _quantize_dynamic(data: bytes) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="lstm-deploy-onnx-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "dynamic.onnx"
        src.write_bytes(data)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic logs a generic "consider pre-processing" warning on the root logger
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        except Exception as exc:  # onnxruntime raises many types; report one line
            raise ExportError(f"onnxruntime dynamic quantization failed: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
        finally:
            root.setLevel(level)
        return dst.read_bytes()


def fusion_report(ops: list[str], lstm_count: int) -> dict[str, Any]:
    """Whether the LSTMs became ONNX ``LSTM`` / ``DynamicQuantizeLSTM`` nodes (no ``Loop``)."""
    fused_ops = [op for op in ops if op in FUSED_OPS]
    loops = [op for op in ops if op in UNFUSED_MARKERS]
    fused = not loops and (lstm_count == 0 or bool(fused_ops))
    reason = None
    if not fused:
        reason = ("the LSTM was converted as a Loop (tf2onnx did not recognise it): several times slower and not "
                  "quantizable to DynamicQuantizeLSTM") if loops else "no ONNX LSTM node was produced"
    return {"fused": fused, "fused_ops": sorted(set(fused_ops)), "reason": reason}
