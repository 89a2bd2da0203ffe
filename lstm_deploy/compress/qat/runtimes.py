"""Convert a plain tf_keras model for one quantization mode and run the artifact.

Used by the QAT report (post-training vs QAT, side by side) and the tests. Every
conversion goes through the fused route (fixed-batch concrete function for TFLite,
``tf2onnx.convert.from_function`` for ONNX) and is checked: no ``WHILE`` / ``Loop`` /
Flex ops. The TFLite interpreter's LSTM state is reset before every sequence.

Until :mod:`lstm_deploy.export` is available this module is the QAT stage's own route;
it implements the same recipe.

Example:
    >>> blob = convert(model, "tflite-int8", calibration=x_train[:100])   # doctest: +SKIP
    >>> predict_artifact(blob, "tflite-int8", x_test).shape                 # doctest: +SKIP
    (370, 9)
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ... import _tf
from ...errors import ExportError

MODES = ("float", "tflite-int8", "tflite-dynamic", "onnx-dynamic")
_FORBIDDEN = {"WHILE", "Loop", "Scan", "FlexTensorListReserve"}


def _tflite(model: Any, mode: str, calibration: np.ndarray | None) -> bytes:
    tf = _tf.tf()
    shape = [1] + list(model.input_shape[1:])
    dtype = tf.as_dtype(model.inputs[0].dtype)
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec(shape, dtype))
    # a bare Module holding the variables keeps the LSTM fusion (untracked variables lose it)
    # and converts several times faster than handing over the Keras model
    holder = tf.Module()
    holder.variables_ = list(fn.variables)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], holder)
    if mode in ("tflite-dynamic", "tflite-int8"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "tflite-int8":
        if calibration is None:
            raise ExportError("tflite-int8 needs calibration data (representative samples); got none")
        cal = np.asarray(calibration).astype(dtype.as_numpy_dtype)

        def representative() -> Any:
            for i in range(len(cal)):
                yield [cal[i:i + 1]]

        conv.representative_dataset = representative
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with _tf.silenced_converter():
                return conv.convert()
        except Exception as exc:  # converter errors come in many types; all mean "cannot convert"
            raise ExportError(f"TFLite conversion ({mode}) failed: {str(exc).strip().splitlines()[0][:300]}") from None


def tflite_ops(blob: bytes) -> list[str]:
    """Sorted op names of a TFLite flatbuffer."""
    from ai_edge_litert.interpreter import Interpreter

    return sorted({d["op_name"] for d in Interpreter(model_content=blob)._get_ops_details()})


def onnx_ops(blob: bytes) -> list[str]:
    """Sorted op types of an ONNX model."""
    import onnx

    return sorted({n.op_type for n in onnx.load_from_string(blob).graph.node})


def _onnx(model: Any, mode: str) -> bytes:
    tf = _tf.tf()
    import tf2onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    spec = (tf.TensorSpec([None] + list(model.input_shape[1:]), model.inputs[0].dtype, name="input"),)
    fn = tf.function(lambda x: model(x, training=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
    if mode != "onnx-dynamic":
        return proto.SerializeToString()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "dyn.onnx"
        src.write_bytes(proto.SerializeToString())
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return dst.read_bytes()


def convert(model: Any, mode: str, calibration: np.ndarray | None = None) -> bytes:
    """Convert a plain tf_keras ``model`` for ``mode`` and verify the LSTMs stayed fused.

    Raises:
        ExportError: conversion failed or produced a loop / Flex op instead of fused LSTMs.
    """
    blob = _onnx(model, mode) if mode == "onnx-dynamic" else _tflite(model, mode, calibration)
    ops = onnx_ops(blob) if mode == "onnx-dynamic" else tflite_ops(blob)
    bad = sorted(o for o in ops if o in _FORBIDDEN or o.startswith("Flex"))
    if bad:
        raise ExportError(f"{mode}: the converted model contains {', '.join(bad)} instead of fused LSTM ops")
    return blob


def predict_artifact(blob: bytes, mode: str, x: np.ndarray) -> np.ndarray:
    """Run a converted model on ``x`` (one sequence at a time for TFLite, state reset each time)."""
    if mode == "onnx-dynamic":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return np.concatenate([sess.run(None, {name: x[i:i + 256]})[0] for i in range(0, len(x), 256)])
    from ai_edge_litert.interpreter import Interpreter

    with _tf.silenced_stderr():  # LiteRT announces its XNNPACK delegate on stderr
        it = Interpreter(model_content=blob, num_threads=1)
        it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    res = []
    for i in range(len(x)):
        it.reset_all_variables()
        it.set_tensor(inp["index"], x[i:i + 1].astype(inp["dtype"]))
        it.invoke()
        res.append(it.get_tensor(out["index"])[0].copy())
    return np.asarray(res)
