"""Random but valid integer models, for property tests and the shared test vectors.

Parameters are drawn directly in the integer domain (not through PTQ), so they exercise
corners PTQ rarely reaches: odd row lengths, zero rows, saturating outputs, multipliers
near both ends of their range, extreme biases within the proven int32 bound; and, on
request, tie-prone channels (multiplier exactly 2**30, shift 31..35: ``acc / 2**(n-30)`` is
an exact rounding tie for many accumulators, which continuous multipliers never give).
"""

from __future__ import annotations

import numpy as np

from qhil.common.actor import Activation
from qhil.quant.config import BitConfig
from qhil.quant.qmodel import ACC_LIMIT, LUT_BITS_MAX, QuantLayer, QuantModel, tanh_limit, weight_limit
from qhil.quant.requant import quantize_multipliers, requantize

__all__ = ["random_quant_model", "random_input_codes", "random_tflite_model"]


def random_quant_model(rng: np.random.Generator, sizes: list[int], bits: BitConfig,
                       output: str = "tanh", tie_share: float = 0.0,
                       activations: tuple[Activation, ...] = ()) -> QuantModel:
    """A valid :class:`QuantModel` with layer widths ``sizes`` (input first, action last).

    Each layer's multipliers are set from the accumulators of random inputs pushed
    through the layers before it, so outputs spread over the code range (with a few
    channels pushed into saturation or to zero on purpose).

    :param tie_share: share of channels given the tie-prone multiplier 2**30 (0: none, and
        the random stream is the same as without the parameter)
    :param activations: one per hidden layer (empty: ReLU everywhere, the stream of old);
        a tanh layer gets a table of ``2**min(A+2, 10)`` entries over ``[-3, 3]``
    """
    acts = activations or (Activation.RELU,) * (len(sizes) - 2)
    layers = []
    in_max = (1 << (bits.in_bits - 1)) - 1
    h = rng.integers(-in_max, in_max + 1, size=(256, sizes[0])).astype(np.int64)
    n = len(sizes) - 1
    for i in range(n):
        n_in, n_out = sizes[i], sizes[i + 1]
        last = i == n - 1
        q = weight_limit(bits.w[i])
        w = rng.integers(-q, q + 1, size=(n_out, n_in)).astype(np.int8)
        if n_out > 2:
            w[rng.integers(n_out)] = 0  # a dead channel
        headroom = ACC_LIMIT - np.abs(w.astype(np.int64)).sum(axis=1) * in_max
        acc = h @ w.T.astype(np.int64)
        spread = np.maximum(acc.std(axis=0), 1.0)
        bias = (rng.normal(size=n_out) * spread * 0.5 - (0 if last else 0.2 * spread))
        bias = np.clip(np.round(bias), -headroom, headroom).astype(np.int32)
        act = Activation.IDENTITY if last else acts[i]
        lut_bits = min(bits.a[i] + 2, LUT_BITS_MAX) if act is Activation.TANH else 0
        target = (1 << (max(bits.a[i], lut_bits) - 1)) * np.exp(rng.uniform(-1.5, 0.7, size=n_out))
        real = target / spread
        real[rng.random(n_out) < 0.05] = 2.0**-40  # channel that always outputs 0
        mult, shift = quantize_multipliers(np.minimum(real, 2.0**29))
        if tie_share > 0:
            ties = rng.random(n_out) < tie_share
            mult[ties] = 1 << 30
            shift[ties] = rng.integers(31, 36, size=int(ties.sum()))
        table = None
        if act is Activation.TANH:
            k = np.arange(1 << lut_bits) - (1 << (lut_bits - 1))
            step = 3.0 / ((1 << (lut_bits - 1)) - 1)
            table = np.round(tanh_limit(bits.a[i]) * np.tanh(k * step)).astype(np.int8)
        layer = QuantLayer(w, bits.w[i], bias, mult.astype(np.int32), shift.astype(np.int32),
                           bits.a[i], act, table)
        layers.append(layer)
        h = layer.activate(requantize(acc + bias, layer.mult, layer.shift, *layer.out_range))
        in_max = layer.code_bound
    a_last = bits.a[-1]
    q_out = (1 << (bits.out_bits - 1)) - 1
    lut = None
    out_scale = float(np.float32(3.0 / ((1 << (a_last - 1)) - 1)))
    if output == "tanh":
        u = np.arange(1 << a_last) - (1 << (a_last - 1))
        lut = np.round(q_out * np.tanh(u * out_scale)).astype(np.int16)
    act_dim = sizes[-1]
    model = QuantModel(layers=layers, in_bits=bits.in_bits,
                       in_center=rng.normal(size=sizes[0]).astype(np.float32),
                       in_step=rng.uniform(0.001, 0.1, size=sizes[0]).astype(np.float32),
                       output="tanh" if output == "tanh" else "clip", out_bits=bits.out_bits,
                       out_scale=out_scale, action_low=-np.ones(act_dim, np.float32),
                       action_high=np.ones(act_dim, np.float32), lut=lut, env_id="random")
    model.validate()
    return model


def random_input_codes(rng: np.random.Generator, model: QuantModel, count: int) -> np.ndarray:
    """Input codes ``[count, obs_dim]``: mostly uniform, some at the extremes."""
    lo, hi = model.in_range
    x = rng.integers(lo, hi + 1, size=(count, model.obs_dim))
    edge = rng.random(x.shape) < 0.1
    x[edge] = rng.choice([lo, hi, 0], size=int(edge.sum()))
    return x.astype(np.int64)


def random_tflite_model(rng: np.random.Generator, sizes: list[int], tables: str,
                        lshift_share: float = 0.0, tie_share: float = 0.0) -> QuantModel:
    """A valid model in the tflite arithmetic (docs/quantization.md#the-tflite-arithmetic).

    :param tables: one letter per layer: ``i`` identity with a random clamp (a fused
        activation's), ``t`` a random monotone 256-entry table (TANH or LOGISTIC's kind)
    :param lshift_share: share of rows with a positive exponent (a left shift before the
        multiply; their weights are made small enough for the bound)
    :param tie_share: share of rows with multiplier ``2**30`` and a negative exponent:
        exact ties of the final rounding, where TFLM's two roundings differ from one
    """
    from qhil.quant.tflite_requant import requantize_tflite

    layers = []
    h = rng.integers(-128, 128, size=(256, sizes[0])).astype(np.int64)
    for i, kind in enumerate(tables):
        n_in, n_out = sizes[i], sizes[i + 1]
        w = rng.integers(-127, 128, size=(n_out, n_in)).astype(np.int64)
        left = rng.random(n_out) < lshift_share
        w[left] //= 64  # room for 2**e <= 2**4 in the bound
        acc = h @ w.T
        spread = np.maximum(acc.std(axis=0), 1.0)
        bias = np.round(rng.normal(size=n_out) * spread * 0.5).astype(np.int64)
        real = 60.0 * np.exp(rng.uniform(-1.0, 0.7, size=n_out)) / spread
        real[left] = rng.uniform(2.0, 9.0, size=int(left.sum()))
        f, e = np.frexp(real)
        mult = np.round(f * 2.0**31).astype(np.int64)
        e = e.astype(np.int64)
        carry = mult == 1 << 31
        mult[carry] //= 2
        e[carry] += 1
        ties = (rng.random(n_out) < tie_share) & ~left
        mult[ties] = 1 << 30
        e[ties] = -rng.integers(1, 6, size=int(ties.sum())) - 4
        zero = int(rng.integers(-20, 21))
        lo, hi = -128, 127
        if kind == "i" and rng.random() < 0.7:
            lo = max(-128, zero)  # a fused RELU
        act = Activation.TANH if kind == "t" else Activation.IDENTITY
        table = None
        if act is Activation.TANH:
            table = np.clip(np.round(127.5 * np.tanh((np.arange(256) - 128 - zero) / 40.0)
                                     + rng.integers(-1, 1)), -128, 127).astype(np.int8)
        layer = QuantLayer(w.astype(np.int8), 8, bias.astype(np.int32), mult.astype(np.int32),
                           e.astype(np.int32), 8, act, table, (zero, lo, hi))
        layers.append(layer)
        u = np.clip(requantize_tflite(acc + bias, layer.mult, layer.shift) + zero, lo, hi)
        h = layer.activate(u)
    act_dim = sizes[-1]
    model = QuantModel(layers=layers, in_bits=8, in_center=np.full(sizes[0], -3, np.float32),
                       in_step=np.full(sizes[0], 0.05, np.float32), output="clip", out_bits=8,
                       out_scale=0.02, action_low=-np.ones(act_dim, np.float32),
                       action_high=np.ones(act_dim, np.float32), env_id="random",
                       arithmetic="tflite", out_zero=int(rng.integers(-5, 6)))
    model.validate()
    return model
