"""Edge-case integer models whose expected outputs come from the exact-fraction reference.

Random models almost never produce an exact rounding tie (multipliers are drawn from a
continuous range: 0 ties in 98k layer outputs), so a firmware that rounded ties the wrong
way passed every test. Here every multiplier is exactly 2**30 with a shift of 31..35, so
``acc * m / 2**n = acc / 2**(n - 30)`` lands on a tie whenever ``acc`` is an odd multiple of
``2**(n - 31)``: ties of both signs, in every layer. Biases sit at their int32 limits in
some channels; every weight and activation width 2..8 and input counts 1, 3, 5, 7, 9, 13
appear. The expected codes are computed by ``naive_integer`` (plain integers and
``Fraction``), not by the golden executor the firmware was written against.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from naive_integer import naive_policy, round_half_away_exact
from qhil.common.actor import Activation
from qhil.quant.qmodel import ACC_LIMIT, QuantLayer, QuantModel, weight_limit

INPUT_COUNTS = (1, 3, 5, 7, 9, 13)
TIE_MULT = 1 << 30


@dataclass
class EdgeCase:
    name: str
    model: QuantModel
    inputs: np.ndarray  # input codes [count, obs_dim]
    expected: np.ndarray  # action codes from the exact reference [count, act_dim]
    ties: tuple[int, int]  # exact ties met inside the code range: (positive, negative)


def naive_layers(model: QuantModel) -> list[dict]:
    return [{"weights": layer.weights.astype(int).tolist(), "bias": layer.bias.astype(int).tolist(),
             "mult": layer.mult.astype(int).tolist(), "shift": layer.shift.astype(int).tolist(),
             "out_bits": layer.out_bits, "act": layer.act.value,
             "table": None if layer.lut is None else layer.lut.astype(int).tolist()}
            for layer in model.layers]


def count_ties(model: QuantModel, inputs: np.ndarray) -> tuple[int, int]:
    """Exact ties (fraction 1/2) whose rounded code is inside the layer's range."""
    pos = neg = 0
    for x in inputs:
        h = [int(v) for v in x]
        for layer in model.layers:
            lo, hi = layer.out_range
            out = []
            for row, b, m, n in zip(layer.weights.tolist(), layer.bias.tolist(),
                                    layer.mult.tolist(), layer.shift.tolist(), strict=True):
                acc = b + sum(w * v for w, v in zip(row, h, strict=True))
                value = Fraction(acc * m, 2**n)
                if value.denominator == 2 and lo <= value <= hi:
                    pos, neg = (pos + 1, neg) if value > 0 else (pos, neg + 1)
                out.append(min(max(round_half_away_exact(value), lo), hi))
            h = [int(c) for c in layer.activate(np.asarray(out, dtype=np.int64))]
    return pos, neg


def _layer(rng: np.random.Generator, n_in: int, n_out: int, w_bits: int, out_bits: int,
           relu: bool, in_bound: int) -> QuantLayer:
    q = weight_limit(w_bits)
    weights = rng.integers(-q, q + 1, size=(n_out, n_in)).astype(np.int8)
    # small odd biases keep accumulators of both signs near the code range; channel 0 and 1
    # carry the largest bias the int32 proof allows, of each sign (they saturate).
    bias = (2 * rng.integers(-4, 5, size=n_out) + 1).astype(np.int64)
    headroom = ACC_LIMIT - np.abs(weights.astype(np.int64)).sum(axis=1) * in_bound
    if n_out >= 3:
        bias[0], bias[1] = headroom[0], -headroom[1]
    shift = (31 + np.arange(n_out) % 5).astype(np.int32)
    return QuantLayer(weights, w_bits, bias.astype(np.int32),
                      np.full(n_out, TIE_MULT, np.int32), shift, out_bits,
                      Activation.RELU if relu else Activation.IDENTITY)


def edge_cases() -> list[EdgeCase]:
    """One model per input count, each with other weight/activation widths (2..8 all met)."""
    cases = []
    for k, n_in in enumerate(INPUT_COUNTS):
        rng = np.random.default_rng(1000 + k)
        widths = [2 + (k + j) % 7 for j in range(3)]  # k = 0..5 covers 2..8 across layers
        acts = [2 + (k + j + 3) % 7 for j in range(3)]
        in_bits = 4 + k
        sizes = [n_in, 9, 6, 5]
        layers = []
        bound = (1 << (in_bits - 1)) - 1
        for i in range(3):
            last = i == 2
            layers.append(_layer(rng, sizes[i], sizes[i + 1], widths[i], acts[i], not last,
                                 bound))
            bound = (1 << acts[i]) - 1
        output = "clip" if k % 2 == 0 else "tanh"
        lut = None
        if output == "tanh":
            u = np.arange(1 << acts[2]) - (1 << (acts[2] - 1))
            lut = np.round(32767 * np.tanh(u * 0.25)).astype(np.int16)
        model = QuantModel(layers=layers, in_bits=in_bits,
                           in_center=np.zeros(n_in, np.float32),
                           in_step=np.full(n_in, 0.01, np.float32), output=output,
                           out_bits=16, out_scale=0.25,
                           action_low=-np.ones(5, np.float32),
                           action_high=np.ones(5, np.float32), lut=lut, env_id="edge")
        model.validate()
        q = (1 << (in_bits - 1)) - 1
        small = rng.integers(-2, 3, size=(64, n_in))  # accumulators near the code range
        wide = rng.integers(-q, q + 1, size=(8, n_in))
        extremes = np.array([[q] * n_in, [-q] * n_in])
        inputs = np.concatenate([small, wide, extremes]).astype(np.int64)
        layers_spec = naive_layers(model)
        table = lut.astype(int).tolist() if lut is not None else None
        expected = np.array([naive_policy([int(v) for v in x], layers_spec, table)
                             for x in inputs], dtype=np.int64)
        cases.append(EdgeCase(f"ties_in{n_in}_w{'-'.join(map(str, widths))}_"
                              f"a{'-'.join(map(str, acts))}", model, inputs, expected,
                              count_ties(model, inputs)))
    return cases
