"""An independent, deliberately naive integer implementation of docs/quantization.md.

Written from the spec, not from qhil.quant: plain Python integers, explicit loops, the
rounding rule spelled out with exact rationals. Slow and obviously right; the property
tests compare the golden executor against it.
"""

from __future__ import annotations

from fractions import Fraction


def round_half_away_exact(value: Fraction) -> int:
    magnitude = abs(value)
    whole = int(magnitude)  # floor for non-negative
    if magnitude - whole >= Fraction(1, 2):
        whole += 1
    return whole if value >= 0 else -whole


def naive_layer(x: list[int], weights: list[list[int]], bias: list[int], mult: list[int],
                shift: list[int], out_bits: int, act: str, table: list[int] | None = None
                ) -> list[int]:
    if act == "relu":
        lo, hi = 0, 2**out_bits - 1
    elif act == "tanh":
        assert table is not None
        index_bits = len(table).bit_length() - 1
        lo, hi = -(2 ** (index_bits - 1)), 2 ** (index_bits - 1) - 1
    else:
        lo, hi = -(2 ** (out_bits - 1)), 2 ** (out_bits - 1) - 1
    out = []
    for row, b, m, n in zip(weights, bias, mult, shift, strict=False):
        acc = b
        for w, v in zip(row, x, strict=False):
            acc += w * v
        assert -(2**31) < acc < 2**31, "accumulator left int32"
        code = round_half_away_exact(Fraction(acc * m, 2**n))
        out.append(min(max(code, lo), hi))
    if table is not None:
        return [table[u - lo] for u in out]
    return out


def naive_policy(x: list[int], layers: list[dict], lut: list[int] | None) -> list[int]:
    h = x
    for layer in layers:
        h = naive_layer(h, layer["weights"], layer["bias"], layer["mult"], layer["shift"],
                        layer["out_bits"], layer["act"], layer.get("table"))
    if lut is None:
        return h
    offset = 2 ** (layers[-1]["out_bits"] - 1)
    return [lut[u + offset] for u in h]
