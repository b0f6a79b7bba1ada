"""Post-training quantization of a float actor the way TFLite's converter does it.

The result is a :class:`TfliteGraph` (then a ``.tflite`` file and a qhil blob in the
tflite arithmetic, the same model): float input quantized per tensor, per-channel
symmetric int8 weights, int32 biases at ``s_in * s_w``, asymmetric int8 activations from
the calibration range (which always includes 0; ``zero = round(-128 - min / s)``), ReLU
fused into its FULLY_CONNECTED, tanh as TANH with TFLite's fixed output quantization
``(1/128, 0)``. The observation normalization is folded into the first layer; its clip
is not representable in one per-tensor input and is left out (the float baseline keeps
it). The input is one scale for every feature, as TFLite quantizes tensors: where
features span very different ranges, that costs precision qhil's per-feature input
steps keep (docs/quantization.md#input-codes-host).
"""

from __future__ import annotations

import numpy as np

from qhil.common.actor import Activation, FloatActor
from qhil.tflite.graph import Quant, TfliteDense, TfliteGraph, TfliteTable

__all__ = ["quantize_actor_tflite", "affine_quant"]

TANH_OUT = Quant(float(np.float32(1.0 / 128.0)), 0)


def affine_quant(lo: float, hi: float) -> Quant:
    """TFLite's int8 quantization of a range: it is widened to hold 0, 255 steps span it."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = float(np.float32((hi - lo) / 255.0))
    zero = int(np.clip(np.round(-128.0 - lo / scale), -128, 127))
    return Quant(scale, zero)


def _round(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_actor_tflite(actor: FloatActor, observations: np.ndarray,
                          int8_io: bool = False) -> TfliteGraph:
    """The int8 graph of ``actor`` calibrated on raw ``observations`` ``[N, obs_dim]``.

    :param int8_io: int8 input and output tensors (the caller quantizes and dequantizes,
        as firmware feeding TFLM usually does) instead of QUANTIZE and DEQUANTIZE operators
    """
    std = np.asarray(actor.obs_std, np.float64)
    mean = np.asarray(actor.obs_mean, np.float64)
    weights = [np.asarray(w, np.float64) for w in actor.weights]
    biases = [np.asarray(b, np.float64) for b in actor.biases]
    biases[0] = biases[0] - weights[0] @ (mean / std)
    weights[0] = weights[0] / std
    x = np.asarray(observations, np.float64)
    inp = affine_quant(x.min(), x.max())
    ops: list[TfliteDense | TfliteTable] = []
    current = inp
    h = x
    n = len(weights)
    for i in range(n):
        w, b = weights[i], biases[i]
        act = actor.activations[i] if i < n - 1 else (
            Activation.TANH if actor.output == "tanh" else Activation.IDENTITY)
        pre = h @ w.T + b
        scales = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
        scales = scales.astype(np.float32)
        codes = np.clip(_round(w / scales.astype(np.float64)[:, None]), -127, 127).astype(np.int8)
        bias_scale = np.float64(np.float32(current.scale)) * scales.astype(np.float64)
        bias = np.clip(_round(b / bias_scale), -(2**31), 2**31 - 1).astype(np.int32)
        if act is Activation.RELU:
            out = affine_quant(0.0, np.maximum(pre, 0).max())
            ops.append(TfliteDense(codes, bias, scales, current, out, "RELU"))
            h = np.maximum(pre, 0)
        else:
            out = affine_quant(pre.min(), pre.max())
            ops.append(TfliteDense(codes, bias, scales, current, out, "NONE"))
            h = pre
            if act is Activation.TANH:
                ops.append(TfliteTable("TANH", out, TANH_OUT))
                out = TANH_OUT
                h = np.tanh(pre)
        current = out
    return TfliteGraph(tuple(ops), inp, current, float_input=not int8_io,
                       float_output=not int8_io)
