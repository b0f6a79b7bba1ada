"""The interpreters a ``.tflite`` policy is checked against: TFLM's and LiteRT's.

TFLM's (``tflite-micro``) is the reference: its integer arithmetic is the ``tflite``
arithmetic qhil executes. LiteRT's reference kernels (``ai-edge-litert``, optional)
round differently; their agreement is reported, not required. Both run one input at a
time (the models take batch 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qhil.common.errors import ModelFormatError
from qhil.tflite.graph import Quant, schema

__all__ = ["run_tflm", "run_litert_reference", "table_model", "op_table"]


def _tflm(data: bytes) -> Any:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise ModelFormatError("checking .tflite models needs the tflite extra: "
                               "pip install 'qhil[tflite]' (tflite-micro)") from None
    return runtime.Interpreter.from_bytes(bytes(data))


def run_tflm(data: bytes, inputs: np.ndarray) -> np.ndarray:
    """TFLM's outputs for ``inputs`` ``[B, n_in]`` (int8 or float32, as the model takes)."""
    interp = _tflm(data)
    shape = tuple(interp.get_input_details(0)["shape"])
    dtype = interp.get_input_details(0)["dtype"]
    out = []
    for row in np.asarray(inputs):
        interp.set_input(row.astype(dtype).reshape(shape), 0)
        interp.invoke()
        out.append(np.array(interp.get_output(0)).reshape(-1))
    return np.asarray(out)


def run_litert_reference(data: bytes, inputs: np.ndarray) -> np.ndarray | None:
    """LiteRT's reference kernels (``BUILTIN_REF``) on ``inputs``; None without ai-edge-litert."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        return None
    interp = Interpreter(model_content=bytes(data),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    i_det, o_det = interp.get_input_details()[0], interp.get_output_details()[0]
    out = []
    for row in np.asarray(inputs):
        interp.set_tensor(i_det["index"], row.astype(i_det["dtype"]).reshape(i_det["shape"]))
        interp.invoke()
        out.append(np.array(interp.get_tensor(o_det["index"])).reshape(-1))
    return np.asarray(out)


def table_model(op: str, inp: Quant, out: Quant) -> bytes:
    """A one-operator int8 model (``op`` on a [1, 256] tensor), written with TFLite's schema."""
    import flatbuffers

    s = schema()

    def tensor(name: str, q: Quant, buffer: int) -> Any:
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [1, 256], s.TensorType.INT8, buffer
        t.quantization = s.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [q.scale], [q.zero]
        return t

    code = s.OperatorCodeT()
    code.builtinCode = getattr(s.BuiltinOperator, op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 2
    node = s.OperatorT()
    node.opcodeIndex, node.inputs, node.outputs = 0, [0], [1]
    graph = s.SubGraphT()
    graph.tensors = [tensor("x", inp, 1), tensor("y", out, 2)]
    graph.inputs, graph.outputs, graph.operators = [0], [1], [node]
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [graph]
    model.buffers = [s.BufferT(), s.BufferT(), s.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def op_table(op: str, inp: Quant, out: Quant) -> np.ndarray:
    """``op``'s answer to every int8 input, in order -128..127, from TFLM's own kernel."""
    codes = np.arange(-128, 128, dtype=np.int8)[None, :]
    return run_tflm(table_model(op, inp, out), codes)[0].astype(np.int8)
