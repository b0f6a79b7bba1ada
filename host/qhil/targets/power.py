"""Board power profiles and device energy: what an action costs on a board.

Device energy = on-device cost ÷ clock × the board's active power, from a board profile
(supply voltage and run-mode current per MHz, from the MCU datasheet). Under QEMU the
cost is instructions, not cycles: the estimate then assumes one cycle per instruction,
and says so (``basis``). The op-level estimate, which needs no board, is
:mod:`qhil.quant.energy`; which profile a target uses is its ``power_profile``
(:mod:`qhil.targets.targets`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qhil.common.errors import ConfigError

__all__ = ["BoardProfile", "BOARD_PROFILES", "load_profile", "resolve_profile", "device_energy",
           "platform_share", "describe"]


@dataclass(frozen=True)
class BoardProfile:
    """Active power of a board's MCU running code.

    :param run_ua_per_mhz: run-mode supply current per MHz of core clock
    :param source: the document and figure the numbers come from
    :param verified: whether the figure was checked against that document by whoever
        added the profile (False: recalled, check before quoting it)
    :param flash_wait_states: flash wait states at ``clock_hz``: cycle estimates charge
        them once per taken branch (qhil.targets.cycles)
    :param flash_wait_table: the part's wait states by clock, ``((max_hz, wait_states),
        ...)`` in rising order (the reference manual's table at the profile's supply);
        empty: ``flash_wait_states`` at every clock
    :param battery_mah: the battery the board flies or runs on (0: none), with
        ``battery_v`` its nominal voltage: reports say how much of it inference spends
    """

    name: str
    mcu: str
    clock_hz: int
    vdd_v: float
    run_ua_per_mhz: float
    source: str
    verified: bool = False
    flash_wait_states: int = 0
    flash_wait_table: tuple[tuple[int, int], ...] = ()
    battery_mah: float = 0.0
    battery_v: float = 0.0

    def wait_states_at(self, clock_hz: float) -> int:
        """Flash wait states at ``clock_hz`` (above the table's last clock: its last)."""
        if not self.flash_wait_table:
            return self.flash_wait_states
        for max_hz, states in self.flash_wait_table:
            if clock_hz <= max_hz:
                return states
        return self.flash_wait_table[-1][1]

    @property
    def active_power_w(self) -> float:
        return self.vdd_v * self.run_ua_per_mhz * 1e-6 * self.clock_hz / 1e6

    @property
    def energy_per_cycle_j(self) -> float:
        return self.active_power_w / self.clock_hz

    @property
    def battery_j(self) -> float:
        return self.battery_mah * 3.6 * self.battery_v


_UNCHECKED = ("recalled from the datasheet's feature summary; not checked against the "
              "document in this repository: confirm before quoting")

BOARD_PROFILES: dict[str, BoardProfile] = {p.name: p for p in [
    BoardProfile("stm32f411-100mhz", "STM32F411CE", 100_000_000, 3.3, 100.0,
                 "ST DS10314 (STM32F411xC/E datasheet), features: 'Run: 100 µA/MHz "
                 "(peripheral off)'; 3 flash wait states at 90-100 MHz, 2.7-3.6 V (RM0383); "
                 + _UNCHECKED, flash_wait_states=3,
                 flash_wait_table=((30_000_000, 0), (64_000_000, 1), (90_000_000, 2),
                                   (100_000_000, 3))),
    BoardProfile("stm32f401-84mhz", "STM32F401RE", 84_000_000, 3.3, 128.0,
                 "ST DS10086 (STM32F401xD/E datasheet), features: 'Run: 128 µA/MHz "
                 "(peripheral off)'; 2 flash wait states at 60-84 MHz, 2.7-3.6 V (RM0368); "
                 + _UNCHECKED, flash_wait_states=2,
                 flash_wait_table=((30_000_000, 0), (60_000_000, 1), (84_000_000, 2))),
    # The Crazyflie 2.1's STM32F405 runs at 168 MHz from the board's 3.0 V rail, on a
    # 250 mAh, 3.7 V LiPo.
    BoardProfile("crazyflie21", "STM32F405RG", 168_000_000, 3.0, 238.0,
                 "ST DS8626 (STM32F405xx/STM32F407xx datasheet), the table 'Typical and maximum "
                 "current consumption in Run mode, code with data processing running from Flash "
                 "memory (ART accelerator enabled)', fHCLK = 168 MHz, all peripherals disabled: "
                 "238 µA/MHz, the figure ST's STM32F405/407 product summary gives for run mode "
                 "from flash at 168 MHz (checked against that summary; the table's number and "
                 "typical mA were not checked against the datasheet here); flash wait states "
                 "from RM0090's table at 2.7-3.6 V; battery: Bitcraze's Crazyflie 2.1 "
                 "specification (250 mAh, 3.7 V LiPo)", flash_wait_states=5,
                 flash_wait_table=((30_000_000, 0), (60_000_000, 1), (90_000_000, 2),
                                   (120_000_000, 3), (150_000_000, 4), (168_000_000, 5)),
                 battery_mah=250.0, battery_v=3.7),
]}


def resolve_profile(text: str) -> BoardProfile:
    """``--board-profile``: a built-in profile's name, or a JSON file of one."""
    if text in BOARD_PROFILES:
        return BOARD_PROFILES[text]
    if not Path(text).is_file():
        raise ConfigError(f"board profile '{text}': neither a built-in profile "
                          f"({', '.join(BOARD_PROFILES)}) nor a JSON file")
    return load_profile(Path(text))


def load_profile(path: Path) -> BoardProfile:
    """A user's profile (JSON with the :class:`BoardProfile` fields)."""
    try:
        data = json.loads(Path(path).read_text())
        if "flash_wait_table" in data:
            data["flash_wait_table"] = tuple(tuple(row) for row in data["flash_wait_table"])
        profile = BoardProfile(**data)
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"board profile '{path}': {exc} (fields: name, mcu, clock_hz, vdd_v, "
                          "run_ua_per_mhz, source, verified, flash_wait_states, "
                          "flash_wait_table, battery_mah, battery_v)") from None
    if profile.clock_hz <= 0 or profile.vdd_v <= 0 or profile.run_ua_per_mhz <= 0:
        raise ConfigError(f"board profile '{path}': clock, voltage and current must be > 0")
    if profile.battery_mah < 0 or profile.battery_v < 0 or \
            (profile.battery_mah > 0) != (profile.battery_v > 0):
        raise ConfigError(f"board profile '{path}': a battery needs both battery_mah and "
                          "battery_v > 0 (or neither)")
    return profile


def device_energy(cost: float, cost_unit: str, profile: BoardProfile) -> dict[str, Any] | None:
    """Energy of one action from its on-device cost (cycles, or instructions as cycles)."""
    if cost_unit not in ("cycles", "instructions"):
        return None
    joules = cost * profile.energy_per_cycle_j
    return {"uj": round(joules * 1e6, 6), "profile": profile.name,
            "basis": "cycles" if cost_unit == "cycles" else
                     "instructions, one cycle each assumed (emulator)",
            "profile_verified": profile.verified}


def platform_share(action_uj: float, period_s: float, platform_w: float,
                   profile: BoardProfile) -> dict[str, Any]:
    """What inference at the control rate costs a platform that draws ``platform_w`` to do
    its task (a quadrotor's hover power): its power, its share, and the battery's
    runtime at the platform's power with and without it."""
    inference_w = action_uj * 1e-6 / period_s
    out: dict[str, Any] = {"inference_mw": round(inference_w * 1e3, 6),
                           "platform_w": platform_w,
                           "percent_of_platform": round(100 * inference_w / platform_w, 6)}
    if profile.battery_j > 0:
        out["battery_minutes"] = round(profile.battery_j / (platform_w + inference_w) / 60, 3)
        out["battery_minutes_lost"] = round(
            profile.battery_j / platform_w / 60 - out["battery_minutes"], 4)
    return out


def describe(profile: BoardProfile) -> dict[str, Any]:
    return asdict(profile) | {"active_power_mw": round(profile.active_power_w * 1e3, 3)}
