"""Energy proxies: what an action costs in energy, estimated two independent ways.

(a) **Device energy** = on-device cost ÷ clock × the board's active power, from a board
    profile (supply voltage and run-mode current per MHz, from the MCU datasheet).
    Under QEMU the cost is instructions, not cycles: the estimate then assumes one cycle
    per instruction, and says so (``basis``).

(b) **Op-level energy** from the model's MAC counts by bit width plus memory traffic,
    with the Horowitz ISSCC 2014 45 nm table:

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

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qhil.common.errors import ConfigError
from qhil.quant.config import BitConfig

__all__ = ["BoardProfile", "BOARD_PROFILES", "profile_for", "load_profile", "device_energy",
           "op_energy", "HOROWITZ_PJ"]

HOROWITZ_PJ = {"int8_mult": 0.2, "int8_add": 0.03, "int32_mult": 3.1, "int32_add": 0.1,
               "fp32_mult": 3.7, "fp32_add": 0.9, "sram32_read": 5.0}


@dataclass(frozen=True)
class BoardProfile:
    """Active power of a board's MCU running code.

    :param run_ua_per_mhz: run-mode supply current per MHz of core clock
    :param source: the document and figure the numbers come from
    :param verified: whether the figure was checked against that document by whoever
        added the profile (False: recalled, check before quoting it)
    """

    name: str
    mcu: str
    clock_hz: int
    vdd_v: float
    run_ua_per_mhz: float
    source: str
    verified: bool = False

    @property
    def active_power_w(self) -> float:
        return self.vdd_v * self.run_ua_per_mhz * 1e-6 * self.clock_hz / 1e6

    @property
    def energy_per_cycle_j(self) -> float:
        return self.active_power_w / self.clock_hz


_UNCHECKED = ("recalled from the datasheet's feature summary; not checked against the "
              "document in this repository: confirm before quoting")

BOARD_PROFILES: dict[str, BoardProfile] = {p.name: p for p in [
    BoardProfile("stm32f411-100mhz", "STM32F411CE", 100_000_000, 3.3, 100.0,
                 "ST DS10314 (STM32F411xC/E datasheet), features: 'Run: 100 µA/MHz "
                 "(peripheral off)'; " + _UNCHECKED),
    BoardProfile("stm32f401-84mhz", "STM32F401RE", 84_000_000, 3.3, 128.0,
                 "ST DS10086 (STM32F401xD/E datasheet), features: 'Run: 128 µA/MHz "
                 "(peripheral off)'; " + _UNCHECKED),
]}
# No profile for the STM32F446 (Nucleo-F446RE) or the nRF51 (micro:bit, qemu-m0): give one
# with --board-profile; without it those reports carry the op-level estimate only.

#: Which profile a target's energy estimate uses. The MPS2 FPGA images and QEMU have no
#: power figure of their own: they borrow a Cortex-M4 part's, and reports say so.
TARGET_PROFILES = {"blackpill-f411": "stm32f411-100mhz", "renode-stm32f4": "stm32f411-100mhz",
                   "qemu-stm32f4": "stm32f411-100mhz", "qemu-m3": "stm32f411-100mhz",
                   "qemu-m4": "stm32f411-100mhz", "qemu-m7": "stm32f411-100mhz"}


def load_profile(path: Path) -> BoardProfile:
    """A user's profile (JSON with the :class:`BoardProfile` fields)."""
    try:
        data = json.loads(Path(path).read_text())
        profile = BoardProfile(**data)
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"board profile '{path}': {exc} (fields: name, mcu, clock_hz, vdd_v, "
                          "run_ua_per_mhz, source, verified)") from None
    if profile.clock_hz <= 0 or profile.vdd_v <= 0 or profile.run_ua_per_mhz <= 0:
        raise ConfigError(f"board profile '{path}': clock, voltage and current must be > 0")
    return profile


def profile_for(target: str) -> BoardProfile | None:
    name = TARGET_PROFILES.get(target)
    return BOARD_PROFILES[name] if name else None


def device_energy(cost: float, cost_unit: str, profile: BoardProfile) -> dict[str, Any] | None:
    """Energy of one action from its on-device cost (cycles, or instructions as cycles)."""
    if cost_unit not in ("cycles", "instructions"):
        return None
    joules = cost * profile.energy_per_cycle_j
    return {"uj": round(joules * 1e6, 6), "profile": profile.name,
            "basis": "cycles" if cost_unit == "cycles" else
                     "instructions, one cycle each assumed (emulator)",
            "profile_verified": profile.verified}


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


def describe(profile: BoardProfile) -> dict[str, Any]:
    return asdict(profile) | {"active_power_mw": round(profile.active_power_w * 1e3, 3)}
