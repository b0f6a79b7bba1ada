"""Reading an int8 ``.tflite`` policy: the graph qhil accepts, as plain arrays.

Accepted: one subgraph, one input, one output, a chain of
``[QUANTIZE] (FULLY_CONNECTED [TANH | LOGISTIC])+ [DEQUANTIZE]`` on int8 tensors (fused
NONE, RELU, RELU6 or RELU_N1_TO_1), weights int8 per-tensor or per-channel with zero
point 0, biases int32 (or none). Anything else is refused with one line naming the
operator or field. The flatbuffer is parsed with the schema module TFLM's Python
package ships (``tflite-micro``, the ``qhil[tflite]`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qhil.common.errors import ModelFormatError

__all__ = ["TfliteGraph", "TfliteDense", "TfliteTable", "Quant", "read_tflite", "schema"]

FUSED = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")


def schema() -> Any:
    """TFLite's flatbuffer schema module (from ``tflite-micro``)."""
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
    except ImportError:
        raise ModelFormatError("reading .tflite files needs the tflite extra: "
                               "pip install 'qhil[tflite]' (tflite-micro)") from None
    return schema_py_generated


@dataclass(frozen=True)
class Quant:
    """A tensor's affine quantization: ``real = scale * (q - zero)``."""

    scale: float  # float32 value, widened
    zero: int


@dataclass(frozen=True)
class TfliteDense:
    """One FULLY_CONNECTED: ``out = clamp(requant(bias + W (x - in.zero)) + out.zero)``."""

    weights: np.ndarray  # int8 [n_out, n_in]
    bias: np.ndarray  # int32 [n_out] (zeros when the model has none)
    w_scales: np.ndarray  # float32 [1] per-tensor or [n_out] per-channel
    inp: Quant
    out: Quant
    fused: str  # one of FUSED


@dataclass(frozen=True)
class TfliteTable:
    """A TANH or LOGISTIC between int8 tensors (run as a 256-entry table)."""

    op: str
    inp: Quant
    out: Quant


@dataclass(frozen=True)
class TfliteGraph:
    ops: tuple[TfliteDense | TfliteTable, ...]
    inp: Quant  # the int8 input's (after QUANTIZE when the model takes floats)
    out: Quant  # the int8 output's (before DEQUANTIZE)
    float_input: bool
    float_output: bool

    @property
    def obs_dim(self) -> int:
        first = self.ops[0]
        assert isinstance(first, TfliteDense)
        return int(first.weights.shape[1])

    @property
    def act_dim(self) -> int:
        dense = [op for op in self.ops if isinstance(op, TfliteDense)]
        return int(dense[-1].weights.shape[0])


def _names(enum: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


def read_tflite(data: bytes, source: str = "model") -> TfliteGraph:  # noqa: C901
    """Parse and check a ``.tflite`` flatbuffer (see the module docstring)."""
    s = schema()

    def fail(message: str) -> ModelFormatError:
        return ModelFormatError(f"{source}: {message}")

    if len(data) < 8 or data[4:8] != b"TFL3":
        raise fail("not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # a corrupt flatbuffer raises anything from struct to index errors
        raise fail(f"unreadable flatbuffer ({type(exc).__name__})") from None
    if not model.subgraphs or len(model.subgraphs) != 1:
        raise fail(f"{len(model.subgraphs or [])} subgraphs; qhil reads single-subgraph models")
    g = model.subgraphs[0]
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise fail("the model must have one input and one output tensor")
    ops_by_code = _names(s.BuiltinOperator)
    fused_names = _names(s.ActivationFunctionType)
    types = _names(s.TensorType)
    tensors = g.tensors

    def op_name(op: Any) -> str:
        code = model.operatorCodes[op.opcodeIndex]
        return ops_by_code.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")

    def quant(index: int, what: str) -> Quant:
        t = tensors[index]
        q = t.quantization
        if types.get(t.type) != "INT8":
            raise fail(f"{what} tensor '{_name(t)}' is {types.get(t.type, t.type)}, not int8")
        if q is None or q.scale is None or len(q.scale) != 1:
            raise fail(f"{what} tensor '{_name(t)}' needs one scale (per-tensor quantization)")
        return Quant(float(np.float32(q.scale[0])), int(q.zeroPoint[0]))

    def buffer(index: int, dtype: str, what: str) -> np.ndarray:
        t = tensors[index]
        raw = model.buffers[t.buffer].data
        if raw is None:
            raise fail(f"{what} '{_name(t)}' has no constant data")
        return np.frombuffer(bytes(bytearray(raw)), dtype=dtype).reshape(tuple(t.shape))

    chain = list(g.operators)
    names = [op_name(op) for op in chain]
    for name in names:
        if name not in ("QUANTIZE", "DEQUANTIZE", "FULLY_CONNECTED", "TANH", "LOGISTIC"):
            raise fail(f"operator {name} is not supported (qhil reads FULLY_CONNECTED, TANH, "
                       "LOGISTIC, QUANTIZE and DEQUANTIZE)")
    float_input = bool(names) and names[0] == "QUANTIZE"
    float_output = bool(names) and names[-1] == "DEQUANTIZE"
    body = chain[int(float_input): len(chain) - int(float_output)]
    if any(op_name(op) in ("QUANTIZE", "DEQUANTIZE") for op in body):
        raise fail("QUANTIZE and DEQUANTIZE only at the model's input and output")
    expect = g.inputs[0]
    if float_input:
        q_op = chain[0]
        if list(q_op.inputs) != [expect]:
            raise fail("QUANTIZE does not read the model's input")
        expect = q_op.outputs[0]
    in_quant = quant(expect, "input")
    ops: list[TfliteDense | TfliteTable] = []
    for op in body:
        name = op_name(op)
        if op.inputs[0] != expect:
            raise fail(f"{name} does not follow the previous operator (only chains are read)")
        if name == "FULLY_CONNECTED":
            opts = op.builtinOptions
            fused = fused_names.get(getattr(opts, "fusedActivationFunction", 0), "?")
            if fused not in FUSED:
                raise fail(f"FULLY_CONNECTED with fused {fused} is not supported")
            if getattr(opts, "weightsFormat", 0) != 0:
                raise fail("FULLY_CONNECTED with shuffled weights is not supported")
            w_t = tensors[op.inputs[1]]
            if types.get(w_t.type) != "INT8":
                raise fail(f"weights '{_name(w_t)}' are {types.get(w_t.type)}, not int8")
            w = buffer(op.inputs[1], "i1", "weights")
            if w.ndim != 2:
                raise fail(f"weights '{_name(w_t)}' have shape {w.shape}; 2-D expected")
            wq = w_t.quantization
            scales = np.asarray(wq.scale if wq is not None and wq.scale is not None else [],
                                np.float32)
            zeros = np.asarray(wq.zeroPoint if wq is not None and wq.zeroPoint is not None
                               else [], np.int64)
            if scales.size not in (1, w.shape[0]) or np.any(zeros != 0):
                raise fail(f"weights '{_name(w_t)}': per-tensor or per-output-channel scales "
                           "with zero point 0 expected")
            if scales.size > 1 and getattr(wq, "quantizedDimension", 0) != 0:
                raise fail(f"weights '{_name(w_t)}' quantized along dimension "
                           f"{wq.quantizedDimension}, not the output channels")
            if np.any(w == -128):
                raise fail(f"weights '{_name(w_t)}' hold -128; TFLite int8 weights are "
                           "symmetric (-127..127)")
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                b_t = tensors[op.inputs[2]]
                if types.get(b_t.type) != "INT32":
                    raise fail(f"bias '{_name(b_t)}' is {types.get(b_t.type)}, not int32")
                bias = buffer(op.inputs[2], "<i4", "bias").reshape(-1).astype(np.int32)
            else:
                bias = np.zeros(w.shape[0], np.int32)
            if bias.shape != (w.shape[0],):
                raise fail(f"bias of {bias.size} entries for {w.shape[0]} outputs")
            out_q = quant(op.outputs[0], "FULLY_CONNECTED output")
            ops.append(TfliteDense(w.astype(np.int8), bias, scales,
                                   quant(op.inputs[0], "FULLY_CONNECTED input"), out_q, fused))
        else:
            if not ops or not isinstance(ops[-1], TfliteDense):
                raise fail(f"{name} must follow a FULLY_CONNECTED")
            ops.append(TfliteTable(name, quant(op.inputs[0], f"{name} input"),
                                   quant(op.outputs[0], f"{name} output")))
        expect = op.outputs[0]
    if not ops:
        raise fail("no FULLY_CONNECTED operator")
    out_quant = quant(expect, "output")
    if float_output:
        if list(chain[-1].inputs) != [expect]:
            raise fail("DEQUANTIZE does not read the last operator's output")
        expect = chain[-1].outputs[0]
    if expect != g.outputs[0]:
        raise fail("the last operator's output is not the model's output")
    return TfliteGraph(tuple(ops), in_quant, out_quant, float_input, float_output)


def _name(t: Any) -> str:
    name = t.name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
