"""Op-level energy of one inference: an estimate that needs no device (the device's own
figure is :func:`qhil.targets.power.device_energy`), from the model's MAC counts by bit
width plus memory traffic, with the Horowitz ISSCC 2014 45 nm table:

=========  =========  ==========  =======
operation  8-bit int  32-bit int  fp32
=========  =========  ==========  =======
add        0.03 pJ    0.1 pJ      0.9 pJ
multiply   0.2 pJ     3.1 pJ      3.7 pJ
=========  =========  ==========  =======

32-bit SRAM read (8 kB array) ≈ 5 pJ.

Assumptions, stated because the table stops at 8 bits: an integer multiply of a
b_w-bit weight by a b_a-bit activation costs 0.2 pJ × (b_w × b_a) / 64 (an array
multiplier's energy scales with its partial products; 8×8 → 32×32 in the table is
×15.5, close to the ×16 this rule gives); every accumulate is a 32-bit add (0.1 pJ);
each output channel adds one 32-bit multiply and add for requantization. Memory:
weights and biases are read once per inference in 32-bit words of their packed
size, input activations are read once per layer and outputs written once, as 32-bit
words of their stored size (int16 codes for integer models, float32 otherwise),
all at the 5 pJ SRAM figure (flash reads cost more; this is a lower bound).
"""

from __future__ import annotations

import math

from qhil.quant.config import BitConfig

__all__ = ["op_energy", "HOROWITZ_PJ"]

HOROWITZ_PJ = {"int8_mult": 0.2, "int8_add": 0.03, "int32_mult": 3.1, "int32_add": 0.1,
               "fp32_mult": 3.7, "fp32_add": 0.9, "sram32_read": 5.0}


def _words(bits: int) -> int:
    return math.ceil(bits / 32)


def op_energy(layer_shapes: list[tuple[int, int]], bits: BitConfig | None) -> dict[str, float]:
    """Op-level energy of one inference in pJ: compute, memory and total.

    :param layer_shapes: (n_out, n_in) of each linear layer
    :param bits: the integer model's widths, or None for a float32 policy
    """
    t = HOROWITZ_PJ
    compute = memory = 0.0
    for i, (n_out, n_in) in enumerate(layer_shapes):
        macs = n_out * n_in
        if bits is None:
            compute += macs * (t["fp32_mult"] + t["fp32_add"])
            weight_bits, act_bits = 32 * macs, 32
        else:
            w_bits = bits.w[i]
            a_bits = bits.in_bits if i == 0 else bits.a[i - 1]
            mult = t["int8_mult"] * (w_bits * a_bits) / 64.0
            compute += macs * (mult + t["int32_add"]) + n_out * (t["int32_mult"] + t["int32_add"])
            weight_bits, act_bits = w_bits * macs, 16
        memory += t["sram32_read"] * (_words(weight_bits) + n_out  # weights, 32-bit biases
                                      + _words(act_bits * n_in) + _words(act_bits * n_out))
    return {"compute_pj": round(compute, 3), "memory_pj": round(memory, 3),
            "total_pj": round(compute + memory, 3)}
