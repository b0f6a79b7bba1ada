"""A read ``.tflite`` graph as a qhil integer model in the ``tflite`` arithmetic.

Each FULLY_CONNECTED becomes one layer: its int8 weights as they are, the input zero
point folded into the bias (``bias - zero_in * sum(w)``, so the inner loop is the plain
``sum(w * x)`` of every qhil kernel), TFLite's multiplier and exponent per output channel
(one value repeated for per-tensor weights), the output zero point and the fused
activation's clamp. A TANH or LOGISTIC after it becomes the layer's 256-entry table,
filled by TFLM's own kernel on every int8 input. Spec: docs/quantization.md#the-tflite-arithmetic.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from qhil.common.actor import Activation
from qhil.common.errors import ModelFormatError
from qhil.quant.qmodel import QuantLayer, QuantModel
from qhil.quant.tflite_requant import quantize_multiplier_tflite
from qhil.tflite.graph import Quant, TfliteDense, TfliteGraph, TfliteTable
from qhil.tflite.interpreters import op_table

__all__ = ["to_quant_model", "fused_clamp", "ActionMap"]

ActionMap = Literal["clip", "rescale"]


def _quantize(value: float, q: Quant) -> int:
    """TFLite's ``zero + round(value / scale)``, the division in float32."""
    r = float(np.float32(value) / np.float32(q.scale))
    return q.zero + int(np.sign(r) * np.floor(abs(r) + 0.5))


def fused_clamp(fused: str, out: Quant) -> tuple[int, int]:
    """The int8 range a fused activation leaves (TFLite's CalculateActivationRangeQuantized)."""
    lo, hi = -128, 127
    if fused == "RELU":
        return max(lo, out.zero), hi
    if fused == "RELU6":
        return max(lo, out.zero), min(hi, _quantize(6.0, out))
    if fused == "RELU_N1_TO_1":
        return max(lo, _quantize(-1.0, out)), min(hi, _quantize(1.0, out))
    return lo, hi


def _layer(dense: TfliteDense, table: TfliteTable | None) -> QuantLayer:
    w = dense.weights.astype(np.int64)
    n_out = w.shape[0]
    bias = dense.bias.astype(np.int64) - dense.inp.zero * w.sum(axis=1)
    if np.abs(bias).max(initial=0) > (1 << 31) - 1:
        raise ModelFormatError("a bias with the input zero point folded in overflows int32")
    scales = np.broadcast_to(dense.w_scales.astype(np.float64), (n_out,))
    reals = float(np.float64(dense.inp.scale)) * scales / float(np.float64(dense.out.scale))
    mult, exp = zip(*(quantize_multiplier_tflite(float(r)) for r in reals), strict=True)
    lo, hi = fused_clamp(dense.fused, dense.out)
    lut = None if table is None else op_table(table.op, table.inp, table.out)
    return QuantLayer(dense.weights.astype(np.int8), 8, bias.astype(np.int32),
                      np.asarray(mult, np.int32), np.asarray(exp, np.int32), 8,
                      Activation.TANH if table is not None else Activation.IDENTITY, lut,
                      (dense.out.zero, lo, hi))


def to_quant_model(graph: TfliteGraph, action_low: np.ndarray, action_high: np.ndarray,
                   action_map: ActionMap, env_id: str = "") -> QuantModel:
    """The qhil model of ``graph`` (validated; every layer in the tflite arithmetic)."""
    layers = []
    ops = list(graph.ops)
    for i, op in enumerate(ops):
        if isinstance(op, TfliteDense):
            nxt = ops[i + 1] if i + 1 < len(ops) else None
            layers.append(_layer(op, nxt if isinstance(nxt, TfliteTable) else None))
    obs_dim = graph.obs_dim
    model = QuantModel(
        layers=layers, in_bits=8, in_center=np.full(obs_dim, graph.inp.zero, np.float32),
        in_step=np.full(obs_dim, graph.inp.scale, np.float32), output=action_map, out_bits=8,
        out_scale=graph.out.scale, action_low=np.asarray(action_low, np.float32),
        action_high=np.asarray(action_high, np.float32), env_id=env_id,
        arithmetic="tflite", out_zero=graph.out.zero)
    model.validate()
    return model
