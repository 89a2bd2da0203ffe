"""What an artifact's weights really are: constant weight matrices counted by dtype, read from the file.

A ``dynamic`` / ``float16`` / ``int8`` label is only true when weights were quantized: TFLite's
dynamic-range quantization leaves a fused LSTM in float when its per-gate matrices are small
(under 1024 elements), and then the "quantized" artifact is the fp32 one under another name.
Export counts the weights here and refuses to write such a duplicate.

Weights are constant tensors (TFLite buffers with data, ONNX initializers) of rank >= 2:
kernels and recurrent kernels, not biases, scales or shape constants.

Example:
    >>> weight_dtypes(open("m.dynamic.tflite", "rb").read(), "tflite")   # doctest: +SKIP
    {'total': 3, 'quantized': 3, 'float': 0, 'by_dtype': {'int8': 3}}
"""

from __future__ import annotations

from typing import Any

#: Weight dtypes that count as quantized (narrower than float32).
QUANTIZED = ("int8", "uint8", "int16", "float16", "int4", "uint4", "bfloat16")


def _summary(counts: dict[str, int]) -> dict[str, Any]:
    quantized = sum(n for t, n in counts.items() if t in QUANTIZED)
    return {"total": sum(counts.values()), "quantized": quantized, "float": sum(n for t, n in counts.items() if t in ("float32", "float64")),
            "by_dtype": dict(sorted(counts.items()))}


def tflite_weight_dtypes(data: bytes) -> dict[str, Any]:
    """Constant tensors of rank >= 2 in a ``.tflite`` flatbuffer, counted by dtype."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(data, 0)
    counts: dict[str, int] = {}
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            if tensor.ShapeLength() < 2 or tensor.IsVariable():
                continue
            buf = model.Buffers(tensor.Buffer())
            if buf is None or not (buf.DataLength() > 0 or buf.Size() > 0):
                continue
            dtype = names.get(tensor.Type(), str(tensor.Type()))
            counts[dtype] = counts.get(dtype, 0) + 1
    return _summary(counts)


def onnx_weight_dtypes(data: bytes) -> dict[str, Any]:
    """Initializers of rank >= 2 in an ``.onnx`` model, counted by dtype."""
    import onnx

    proto = onnx.load_from_string(data)
    counts: dict[str, int] = {}

    def visit(graph: Any) -> None:
        for init in graph.initializer:
            if len(init.dims) >= 2:
                dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type).name
                counts[dtype] = counts.get(dtype, 0) + 1
        for node in graph.node:  # Loop / If bodies (unfused LSTMs) hold their own initializers
            for attr in node.attribute:
                if attr.g is not None and attr.HasField("g"):
                    visit(attr.g)

    visit(proto.graph)
    return _summary(counts)


def weight_dtypes(data: bytes, fmt: str) -> dict[str, Any]:
    """``{"total", "quantized", "float", "by_dtype"}`` for an artifact of format ``fmt`` (``tflite`` or ``onnx``)."""
    return tflite_weight_dtypes(data) if fmt == "tflite" else onnx_weight_dtypes(data)


def unquantized_note(fmt: str, quantization: str, weights: dict[str, Any]) -> str | None:
    """The one line export prints when a quantized mode left every weight in float (``None`` when it did not)."""
    if quantization == "fp32" or weights["quantized"] > 0 or weights["total"] == 0:
        return None
    return (f"{fmt} {quantization}: the converter left all {weights['total']} weight matrices in float32 (too small to quantize), "
            f"so this would be the fp32 artifact under a {quantization} name; not written")
