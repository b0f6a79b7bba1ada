"""What a bench run produces: one record per episode of one policy under test.

These are the run store's files (:mod:`qhil.bench.store`) and what reports are built from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["EpisodeResult", "MAX_MISMATCH_RECORDS"]

MAX_MISMATCH_RECORDS = 20


@dataclass
class EpisodeResult:
    """One episode of one variant: what the run store writes, and what reports are built from."""

    variant: str
    seed: int
    noise: float
    ret: float = 0.0
    steps: int = 0
    terminated: bool = False  # ended before the time limit (a fall): docs/evaluation.md
    rtt_s: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    mismatch_count: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    f32_max_error: float = 0.0
    input_saturations: int = 0
    env_s: float = 0.0  # time spent in env.step (host overhead = wall - env - round trips)
    model_id: int | None = None
    arena_bytes: int | None = None  # device RAM the model took: blob plus kernel copies
    # quantized vs float action on the states the quantized policy visited, in units of
    # the action half-range: squared-error sum, max abs error, components of opposite sign
    action_error: dict[str, float] = field(default_factory=dict)
    # each layer's on-device cost for the episode's first observation (integer variants)
    layer_costs: list[float] = field(default_factory=list)
    link: dict[str, int] = field(default_factory=dict)  # link counters during the episode
    incidents: list[dict[str, Any]] = field(default_factory=list)  # device repairs
    # time in the loop (--timing): inferences, missed ticks, latency µs and delay in
    # physics steps (min, median, max)
    timing: dict[str, Any] = field(default_factory=dict)
    # task metrics the env reports (RMS over the episode's steps), e.g. position_error_m
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EpisodeResult:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
