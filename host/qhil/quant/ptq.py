"""Post-training quantization: float actor + calibration -> :class:`QuantModel`.

Two steps, so that quantization-aware training can reuse the second:

1. :func:`choose_params` picks every scale from calibration data (input centre/step per
   feature, one activation scale per hidden layer, the output pre-activation scale);
2. :func:`build_quant_model` turns float weights plus those scales into integers: it folds
   the observation normalization and input scales into layer 0, quantizes weights per
   output channel, biases to int32, and derives each channel's ``(m, n)`` multiplier.

The math is ``docs/quantization.md``; the golden executor is its reference semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qhil.common.actor import Activation, FloatActor
from qhil.common.errors import ConfigError
from qhil.quant.calibrate import RangeMethod, activation_range, feature_ranges
from qhil.quant.config import BitConfig
from qhil.quant.qmodel import (
    ACC_LIMIT,
    LUT_BITS_MAX,
    QuantLayer,
    QuantModel,
    tanh_limit,
    weight_limit,
)
from qhil.quant.requant import quantize_multipliers, round_half_away

__all__ = ["QuantParams", "choose_params", "build_quant_model", "quantize_weights",
           "fold_input", "ptq", "TANH_RANGE_CAP", "WeightMethod", "InputScale", "table_bits",
           "hidden_table"]

#: Largest tanh pre-activation the output code covers: tanh(4) = 0.99933.
TANH_RANGE_CAP = 4.0
WeightMethod = Literal["minmax", "mse"]
InputScale = Literal["feature", "tensor"]


@dataclass
class QuantParams:
    """Every scale of a quantized policy except the weight scales (those follow the weights).

    :param in_center: raw observation mapped to input code 0, per feature
    :param in_step: raw observation units per input code step, per feature (> 0)
    :param act_scales: real value per code step of each hidden layer's output (a tanh
        layer's is ``1 / (2**(A-1) - 1)``: its codes are tanh in ``[-1, 1]``)
    :param out_scale: pre-activation units per code step of the last layer
    :param weight_method: per-channel weight clipping: ``minmax`` or ``mse``
    :param table_scales: per hidden layer, the pre-activation step of a tanh layer's table
        index (0 for other layers; empty when no layer is tanh)
    """

    in_center: np.ndarray
    in_step: np.ndarray
    act_scales: list[float]
    out_scale: float
    weight_method: WeightMethod = "minmax"
    notes: dict[str, object] = field(default_factory=dict)
    table_scales: list[float] = field(default_factory=list)

    def table_scale(self, layer: int) -> float:
        return self.table_scales[layer] if self.table_scales else 0.0


def table_bits(a_bits: int) -> int:
    """Index width of a tanh hidden layer's table: two bits finer than the codes it gives
    (the table is then a faithful tanh: one index step moves the output by at most about
    a quarter code near 0), at most 10 (1 KB)."""
    return min(a_bits + 2, LUT_BITS_MAX)


def hidden_table(a_bits: int, index_step: float) -> np.ndarray:
    """A tanh hidden layer's int8 table: ``round_half_away(Q_A tanh(step * (k - 2**(K-1))))``."""
    k_bits = table_bits(a_bits)
    k = np.arange(1 << k_bits, dtype=np.float64) - (1 << (k_bits - 1))
    return round_half_away(tanh_limit(a_bits) * np.tanh(k * index_step)).astype(np.int8)


def choose_params(
    actor: FloatActor,
    observations: np.ndarray,
    bits: BitConfig,
    space_low: np.ndarray,
    space_high: np.ndarray,
    input_method: RangeMethod = "minmax",
    act_method: RangeMethod = "percentile",
    weight_method: WeightMethod = "mse",
    input_scale: InputScale = "feature",
    percentile: float = 99.99,
) -> QuantParams:
    """Scales from calibration observations ``[N, obs_dim]`` (see :mod:`qhil.quant.calibrate`)."""
    if bits.n_layers != len(actor.weights):
        raise ConfigError(f"bit configuration has {bits.n_layers} layers, the actor "
                          f"{len(actor.weights)}")
    q_in = (1 << (bits.in_bits - 1)) - 1
    lo, hi = feature_ranges(observations, space_low, space_high, input_method, percentile)
    if np.isfinite(actor.obs_clip):  # VecNormalize clips z; codes need not reach past it
        lo = np.maximum(lo, actor.obs_mean - actor.obs_clip * actor.obs_std)
        hi = np.minimum(hi, actor.obs_mean + actor.obs_clip * actor.obs_std)
    if input_scale == "feature":
        center = 0.5 * (lo + hi)
        step = np.maximum(0.5 * (hi - lo), 1e-6) / q_in
    elif input_scale == "tensor":
        # One step in normalized units for every feature, centred on the normalization mean.
        z_max = np.max(np.maximum(np.abs(lo - actor.obs_mean), np.abs(hi - actor.obs_mean))
                       / actor.obs_std)
        center = actor.obs_mean.copy()
        step = actor.obs_std * max(z_max, 1e-6) / q_in
    else:
        raise ConfigError(f"unknown input scale mode '{input_scale}' (feature or tensor)")
    center, step = center.astype(np.float32), step.astype(np.float32)

    pres, layer_outs = actor.layer_values(observations)
    act_scales, table_scales = [], []
    for i, act in enumerate(actor.activations):
        b = bits.a[i]
        if act is Activation.TANH:
            # codes are tanh itself; the table's index covers the pre-activations up to 4
            k_bits = table_bits(b)
            pre_range = min(activation_range(pres[i], act_method, percentile), TANH_RANGE_CAP)
            act_scales.append(1.0 / tanh_limit(b))
            table_scales.append(pre_range / ((1 << (k_bits - 1)) - 1))
            continue
        table_scales.append(0.0)
        levels = (1 << b) - 1 if act is Activation.RELU else (1 << (b - 1)) - 1
        # At <= 4 bits the range is chosen for the least quantization error, not for coverage.
        method = "mse" if b <= 4 and act_method == "percentile" else act_method
        act_scales.append(activation_range(layer_outs[i], method, percentile, levels) / levels)
    if all(s == 0.0 for s in table_scales):
        table_scales = []
    y = layer_outs[-1]
    y_range = activation_range(y, act_method, percentile)
    if actor.output == "tanh":
        y_range = min(y_range, TANH_RANGE_CAP)
    else:
        y_range = min(y_range, float(np.max(np.maximum(np.abs(actor.action_low),
                                                       np.abs(actor.action_high)))))
    out_scale = y_range / ((1 << (bits.a[-1] - 1)) - 1)
    return QuantParams(center, step, act_scales, out_scale, weight_method,
                       notes={"input_method": input_method, "act_method": act_method,
                              "input_scale": input_scale, "percentile": percentile},
                       table_scales=table_scales)


def fold_input(actor: FloatActor, params: QuantParams) -> tuple[np.ndarray, np.ndarray]:
    """Layer 0 weights and bias acting directly on input codes.

    ``z = (obs - mean) / std`` and ``obs = centre + step * x`` give ``z = c + s * x`` with
    ``s = step / std`` and ``c = (centre - mean) / std``; so ``W z + b = (W s) x + (W c + b)``.
    """
    step = params.in_step.astype(np.float64) / actor.obs_std
    offset = (params.in_center.astype(np.float64) - actor.obs_mean) / actor.obs_std
    w = actor.weights[0].astype(np.float64)
    return w * step[None, :], actor.biases[0].astype(np.float64) + w @ offset


def quantize_weights(w: np.ndarray, bits: int, method: WeightMethod = "minmax"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel quantization of ``w`` ``[out, in]``.

    :return: ``(codes int8 [out, in], scales float64 [out])`` with ``w ~ codes * scale``
    """
    q = weight_limit(bits)
    top = np.abs(w).max(axis=1)
    top = np.where(top > 0, top, 1.0)
    if method == "mse":
        ratios = np.linspace(0.3, 1.0, 36)[:, None]  # candidate clip fractions per channel
        scales = (ratios * top[None, :]) / q  # [R, out]
        codes = np.clip(round_half_away(w[None] / scales[:, :, None]), -q, q)
        err = ((codes * scales[:, :, None] - w[None]) ** 2).sum(axis=2)  # [R, out]
        scale = scales[np.argmin(err, axis=0), np.arange(w.shape[0])]
    elif method == "minmax":
        scale = top / q
    else:
        raise ConfigError(f"unknown weight method '{method}' (minmax or mse)")
    codes = np.clip(round_half_away(w / scale[:, None]), -q, q).astype(np.int8)
    return codes, scale


def _tanh_table(a_bits: int, out_bits: int, out_scale: float) -> np.ndarray:
    offset = 1 << (a_bits - 1)
    q_out = (1 << (out_bits - 1)) - 1
    u = np.arange(1 << a_bits, dtype=np.float64) - offset
    return round_half_away(q_out * np.tanh(u * out_scale)).astype(np.int16)


def build_quant_model(
    actor: FloatActor,
    params: QuantParams,
    bits: BitConfig,
    env_id: str = "",
    weights: list[np.ndarray] | None = None,
    biases: list[np.ndarray] | None = None,
) -> QuantModel:
    """Integer model from float weights (the actor's, or ``weights``/``biases`` from QAT).

    :raises ConfigError: when a bias or the worst-case accumulator overflows int32
    """
    ws = [w.astype(np.float64) for w in (weights or actor.weights)]
    bs = [b.astype(np.float64) for b in (biases or actor.biases)]
    n = len(ws)
    if bits.n_layers != n or len(params.act_scales) != n - 1:
        raise ConfigError(f"bit configuration or scales do not match the {n}-layer actor")
    layers: list[QuantLayer] = []
    for i in range(n):
        if i == 0:
            folded_actor = FloatActor(tuple(ws), tuple(bs), actor.obs_mean, actor.obs_std,
                                      actor.obs_clip, actor.action_low, actor.action_high,
                                      actor.output, actor.activations)
            w, b = fold_input(folded_actor, params)
        else:
            w, b = ws[i] * params.act_scales[i - 1], bs[i]
        codes, w_scale = quantize_weights(w, bits.w[i], params.weight_method)
        bias_q = round_half_away(b / w_scale)
        if np.abs(bias_q).max() > ACC_LIMIT:
            raise ConfigError(f"layer {i}: bias overflows int32 at this input/weight scale")
        last = i == n - 1
        act = Activation.IDENTITY if last else actor.activations[i]
        table = None
        if act is Activation.TANH:
            out_scale = params.table_scale(i)
            table = hidden_table(bits.a[i], out_scale)
        else:
            out_scale = params.out_scale if last else params.act_scales[i]
        mult, shift = quantize_multipliers(w_scale / out_scale)
        layers.append(QuantLayer(
            weights=codes,
            w_bits=bits.w[i],
            bias=bias_q.astype(np.int32),
            mult=mult.astype(np.int32),
            shift=shift.astype(np.int32),
            out_bits=bits.a[i],
            act=act,
            lut=table,
        ))
    lut = _tanh_table(bits.a[-1], bits.out_bits, params.out_scale) if actor.output == "tanh" else None
    model = QuantModel(
        layers=layers, in_bits=bits.in_bits, in_center=params.in_center.astype(np.float32),
        in_step=params.in_step.astype(np.float32), output=actor.output, out_bits=bits.out_bits,
        out_scale=float(np.float32(params.out_scale)),
        action_low=actor.action_low.astype(np.float32),
        action_high=actor.action_high.astype(np.float32), lut=lut, env_id=env_id,
        meta={"bits": str(bits), "params": {k: str(v) for k, v in params.notes.items()},
              "weight_method": params.weight_method},
    )
    try:
        model.validate()
    except Exception as exc:
        raise ConfigError(f"cannot quantize at '{bits}': {exc}") from None
    return model


def ptq(actor: FloatActor, observations: np.ndarray, bits: BitConfig, space_low: np.ndarray,
        space_high: np.ndarray, env_id: str = "", **kwargs: object) -> QuantModel:
    """Post-training quantization in one call (keyword options: :func:`choose_params`)."""
    params = choose_params(actor, observations, bits, space_low, space_high, **kwargs)  # type: ignore[arg-type]
    return build_quant_model(actor, params, bits, env_id)
