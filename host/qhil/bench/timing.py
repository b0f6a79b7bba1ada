"""Each inference's latency on the device at a clock (docs/evaluation.md#time-in-the-loop).

``latency = cycles / clock + io_latency (+ the link's bytes at its baud rate, mode
device+link)``. The cycles of an inference come from the device's own count for that
request: DWT cycles on a board; under QEMU, instructions times the variant's cycles per
instruction from one cycle trace (qhil.targets.cycles), plus the board profile's flash
wait states at that clock charged once per taken branch. No wall clock enters, so a timed
run repeats to the last digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from qhil.common.errors import ConfigError
from qhil.common.settings import non_negative_float, non_negative_int, positive_int, setting
from qhil.link.paced import BITS_PER_BYTE
from qhil.targets.power import BoardProfile

__all__ = ["TimingSettings", "LatencyModel", "parse_clock", "clock_list", "TIMING_MODES"]

TimingMode = Literal["none", "device", "device+link"]
TIMING_MODES: tuple[str, ...] = ("none", "device", "device+link")


def parse_clock(text: str) -> float:
    """``168M``, ``32k``, ``8000000`` -> Hz (> 0)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:[hH][zZ])?\s*", text)
    if m is None:
        raise ConfigError(f"'{text}' is not a clock (e.g. 168M, 16000000, 32k)")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    if value <= 0:
        raise ConfigError(f"a clock must be > 0 Hz, got {text}")
    return value


def clock_list(text: str) -> tuple[float, ...]:
    """``8M,16M,168M`` -> distinct clocks in Hz, lowest first."""
    values = sorted({parse_clock(v) for v in text.split(",") if v.strip()})
    if not values:
        raise ConfigError("--clock-sweep needs at least one clock")
    return tuple(values)


@dataclass(frozen=True)
class TimingSettings:
    """Time in the loop: the options ``qhil bench`` shares with the clock sweep."""

    mode: TimingMode = setting("none", flag="--timing", help=(
        "'none': lockstep, the env waits for every answer (today's bench); 'device': each "
        "action lands after the device's own latency at --clock-hz (its counted "
        "instructions or cycles, docs/evaluation.md#time-in-the-loop), the previous action "
        "held until then; 'device+link': plus the link's bytes at --link-baud"))
    clock_hz: float | None = setting(None, parse=parse_clock, metavar="HZ", help=(
        "the core clock latencies are taken at, e.g. 16M (default: the board profile's)"))
    io_latency_us: float = setting(0.0, parse=non_negative_float, metavar="US", help=(
        "sensor read and actuator write per step, added to every latency"))
    physics_substeps: int = setting(1, parse=positive_int, metavar="K", help=(
        "MuJoCo envs: divide the physics timestep by K and multiply frame_skip by K (the "
        "control period stays), for every variant and the zero-latency float baseline: "
        "latencies round up to whole physics steps, and HalfCheetah's is 10 ms, so without "
        "K a microcontroller's latency rounds to 0 or one step (K=100 resolves 0.1 ms)"))
    delay_periods: int | None = setting(None, parse=non_negative_int, metavar="N", help=(
        "envs without physics steps to split (Pendulum-v1, your own): delay every action "
        "by N whole control periods (refused otherwise)"))

    @property
    def on(self) -> bool:
        return self.mode != "none"

    def check(self, cost_unit: str) -> None:
        """Refuse a timing the device cannot give (a host process counts nanoseconds)."""
        if self.on and cost_unit not in ("instructions", "cycles"):
            raise ConfigError(f"--timing {self.mode} needs a device that counts instructions "
                              f"or cycles; this one counts {cost_unit} (run it on a QEMU "
                              "target or a board)")


@dataclass(frozen=True)
class LatencyModel:
    """One variant's latency per device cost unit at a clock.

    :param cycles_per_unit: cycles per counted unit (1 for a cycle counter; a trace's
        cycles per instruction, flash wait states included, under QEMU)
    :param fixed_s: what every step adds: I/O latency, and the link's bytes
    """

    clock_hz: float
    cycles_per_unit: float
    fixed_s: float = 0.0

    def seconds(self, cost: float) -> float:
        return cost * self.cycles_per_unit / self.clock_hz + self.fixed_s

    @classmethod
    def for_variant(cls, settings: TimingSettings, cost_unit: str, clock_hz: float,
                    trace: dict[str, Any] | None, profile: BoardProfile | None,
                    link_bytes: int = 0, link_baud: int | None = None) -> LatencyModel:
        """The model of one variant.

        :param trace: its cycle trace summary (``instructions``, ``cycles``,
            ``taken_branches``): needed when the device counts instructions
        :param link_bytes: request and answer bytes of one INFER on the wire (device+link)
        """
        settings.check(cost_unit)
        if cost_unit == "cycles":
            per_unit = 1.0
        else:
            if trace is None:
                raise ConfigError("timing an instruction-counting device needs a cycle trace "
                                  "of the variant (a QEMU target of a modelled core)")
            ws = profile.wait_states_at(clock_hz) if profile is not None else 0
            cycles = trace["cycles"] + ws * trace["taken_branches"]
            per_unit = cycles / max(trace["instructions"], 1)
        fixed = settings.io_latency_us * 1e-6
        if settings.mode == "device+link":
            fixed += link_bytes * BITS_PER_BYTE / (link_baud or 115200)
        return cls(clock_hz, per_unit, fixed)
