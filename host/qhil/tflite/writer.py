"""Writing a :class:`TfliteGraph` as a ``.tflite`` flatbuffer, with TFLite's own schema
module (no TensorFlow needed): the inverse of :func:`qhil.tflite.graph.read_tflite`.

One subgraph ``main``: ``[QUANTIZE] (FULLY_CONNECTED [TANH | LOGISTIC])+ [DEQUANTIZE]``,
batch 1, int8 weights (per-tensor or per-channel scales, zero point 0) and int32 biases
in constant buffers, operator versions as TensorFlow's converter writes them for int8.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qhil.tflite.graph import Quant, TfliteDense, TfliteGraph, schema

__all__ = ["write_tflite"]

#: Operator versions of int8 kernels, as TensorFlow 2.21's converter writes them.
_VERSIONS = {"QUANTIZE": 1, "FULLY_CONNECTED": 4, "TANH": 2, "LOGISTIC": 2, "DEQUANTIZE": 2}


def write_tflite(graph: TfliteGraph, description: str = "qhil export") -> bytes:
    """The flatbuffer bytes of ``graph`` (file identifier ``TFL3``)."""
    import flatbuffers

    s = schema()
    buffers: list[Any] = [s.BufferT()]  # buffer 0: the empty sentinel
    tensors: list[Any] = []
    codes: list[str] = []
    operators: list[Any] = []

    def buffer(data: bytes | None) -> int:
        b = s.BufferT()
        if data is not None:
            b.data = list(data)
        buffers.append(b)
        return len(buffers) - 1

    def tensor(name: str, shape: list[int], kind: str, quant: tuple[list[float], list[int]]
               | None, data: bytes | None = None) -> int:
        t = s.TensorT()
        t.name, t.shape, t.type = name, shape, getattr(s.TensorType, kind)
        t.buffer = buffer(data)
        if quant is not None:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = quant
            t.quantization.quantizedDimension = 0
        tensors.append(t)
        return len(tensors) - 1

    def op(name: str, inputs: list[int], outputs: list[int], options: Any = None) -> None:
        if name not in codes:
            codes.append(name)
        node = s.OperatorT()
        node.opcodeIndex, node.inputs, node.outputs = codes.index(name), inputs, outputs
        if options is not None:
            node.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
            node.builtinOptions = options
        operators.append(node)

    def q(x: Quant) -> tuple[list[float], list[int]]:
        return [x.scale], [x.zero]

    width = graph.obs_dim
    if graph.float_input:
        first = tensor("input", [1, width], "FLOAT32", None)
        current = tensor("input_int8", [1, width], "INT8", q(graph.inp))
        op("QUANTIZE", [first], [current])
    else:
        first = current = tensor("input", [1, width], "INT8", q(graph.inp))
    for i, layer in enumerate(graph.ops):
        if isinstance(layer, TfliteDense):
            n_out = int(layer.weights.shape[0])
            scales = [float(v) for v in np.asarray(layer.w_scales, np.float32)]
            w = tensor(f"dense_{i}/weights", list(layer.weights.shape), "INT8",
                       (scales, [0] * len(scales)), layer.weights.astype(np.int8).tobytes())
            b_scales = [float(np.float32(layer.inp.scale) * np.float32(v)) for v in scales]
            b = tensor(f"dense_{i}/bias", [n_out], "INT32", (b_scales, [0] * len(b_scales)),
                       layer.bias.astype("<i4").tobytes())
            out = tensor(f"dense_{i}", [1, n_out], "INT8", q(layer.out))
            options = s.FullyConnectedOptionsT()
            options.fusedActivationFunction = getattr(s.ActivationFunctionType, layer.fused)
            op("FULLY_CONNECTED", [current, w, b], [out], options)
        else:
            width = int(tensors[current].shape[1])
            out = tensor(f"{layer.op.lower()}_{i}", [1, width], "INT8", q(layer.out))
            op(layer.op, [current], [out])
        current = out
    last = current
    if graph.float_output:
        last = tensor("output", list(tensors[current].shape), "FLOAT32", None)
        op("DEQUANTIZE", [current], [last])

    sub = s.SubGraphT()
    sub.tensors, sub.inputs, sub.outputs, sub.operators = tensors, [first], [last], operators
    sub.name = "main"
    opcodes = []
    for name in codes:
        code = s.OperatorCodeT()
        code.builtinCode = getattr(s.BuiltinOperator, name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = _VERSIONS[name]
        opcodes.append(code)
    model = s.ModelT()
    model.version, model.description = 3, description
    model.operatorCodes, model.subgraphs, model.buffers = opcodes, [sub], buffers
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
