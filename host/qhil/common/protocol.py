"""The held-out evaluation protocol: which seeds may be used for what (docs/evaluation.md).

Every episode qhil runs resets its env with one integer seed. The seeds are split into
disjoint ranges by purpose, so that nothing chosen (an export, an iteration, a learning
rate, a width, a candidate) is chosen on the episodes its result is reported on:

- ``FIT``: calibration and training (SB3's training envs, calibration rollouts, DAgger
  and RL fine-tuning rollouts);
- ``VALIDATION``: every selection;
- ``TEST``: reported results only, never an input to a choice.

Seeds 1000..1099 belong to none of them: results on them were published (the issue that
introduced this protocol) before it existed. Anything outside every split is free for
users to re-measure on (``qhil eval --seeds A..B``).

A caller states its purpose; :func:`check_seeds` refuses a seed range that lies outside
the purpose's split, so a selection step cannot touch a test seed by accident.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

from qhil.common.errors import ConfigError

__all__ = ["Split", "SeedRange", "ProtocolError", "SPLITS", "PUBLISHED", "check_seeds",
           "split_seeds", "reported_seeds", "MAX_SEEDS", "seed_range_text", "TEST_EPISODES",
           "VALIDATION_EPISODES"]

#: The most seeds a range given on the command line may hold (a typo otherwise runs for
#: years and builds a list of every seed first).
MAX_SEEDS = 1_000_000
#: Episodes of a test evaluation: fewer cannot tell 94 % from 97 % of float.
TEST_EPISODES = 100
#: Episodes per validation evaluation of the QAT recipe and checkpoint selection.
VALIDATION_EPISODES = 20


class ProtocolError(ConfigError):
    """A seed range used for a purpose its split does not allow."""


class Split(enum.Enum):
    """What a set of episodes is used for."""

    FIT = "fit"
    """calibration and training"""
    VALIDATION = "validation"
    """every selection: export, iteration, rate, width, candidate"""
    TEST = "test"
    """reported results only"""


@dataclass(frozen=True)
class SeedRange:
    """The seeds ``start .. stop - 1``; episode ``i`` resets with ``start + i``."""

    start: int
    stop: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.stop <= self.start:
            raise ConfigError(f"seed range {self.start}..{self.stop - 1} is empty or negative")

    @classmethod
    def of(cls, start: int, episodes: int) -> SeedRange:
        """``episodes`` seeds from ``start``."""
        if episodes <= 0:
            raise ConfigError(f"episodes must be positive, got {episodes}")
        return cls(start, start + episodes)

    @classmethod
    def parse(cls, text: str) -> SeedRange:
        """``"A..B"`` (both included) or a single seed ``"A"``."""
        m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?", text)
        if m is None:
            raise ConfigError(f"seed range '{text}' is not of the form A..B (e.g. 2000..2099)")
        start = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else start
        if last < start:
            raise ConfigError(f"seed range '{text}' ends before it starts")
        if last - start + 1 > MAX_SEEDS:
            raise ConfigError(f"seed range '{text}' holds {last - start + 1:,} seeds; at most "
                              f"{MAX_SEEDS:,}")
        return cls(start, last + 1)

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __contains__(self, seed: object) -> bool:
        return isinstance(seed, int) and self.start <= seed < self.stop

    def overlaps(self, other: SeedRange) -> bool:
        return self.start < other.stop and other.start < self.stop

    def within(self, other: SeedRange) -> bool:
        return other.start <= self.start and self.stop <= other.stop

    def __str__(self) -> str:
        return f"{self.start}..{self.stop - 1}"


#: The ranges of each split. They are disjoint from each other and from PUBLISHED.
SPLITS: dict[Split, tuple[SeedRange, ...]] = {
    # SB3 training envs reset with the training seed (0 for the shipped actors);
    # calibration rollouts use 20000.., DAgger rollouts 30000.., RL fine-tuning 60000..,
    # imitation of an env's expert (qhil train --set imitate) 90000...
    Split.FIT: (SeedRange(0, 1_000), SeedRange(20_000, 100_000)),
    Split.VALIDATION: (SeedRange(10_000, 20_000),),
    Split.TEST: (SeedRange(100_000, 200_000),),
}
#: Seeds whose results were published before this protocol: used by no split.
PUBLISHED = SeedRange(1_000, 1_100)


def split_seeds(split: Split, episodes: int, offset: int = 0) -> SeedRange:
    """The first ``episodes`` seeds of ``split``'s main range, from ``offset`` on."""
    rng = SPLITS[split][-1]
    seeds = SeedRange.of(rng.start + offset, episodes)
    check_seeds(seeds, split)
    return seeds


def check_seeds(seeds: SeedRange, purpose: Split) -> None:
    """Refuse ``seeds`` for ``purpose`` unless they lie inside one range of its split.

    :raises ProtocolError: naming the seeds, the purpose and the split they touch
    """
    if any(seeds.within(r) for r in SPLITS[purpose]):
        return
    for split, ranges in SPLITS.items():
        if split is not purpose and any(seeds.overlaps(r) for r in ranges):
            raise ProtocolError(
                f"seeds {seeds} touch the {split.value} split, which {purpose.value} may not use "
                f"(docs/evaluation.md: {purpose.value} seeds are "
                f"{', '.join(str(r) for r in SPLITS[purpose])})")
    if seeds.overlaps(PUBLISHED):
        raise ProtocolError(f"seeds {seeds} touch {PUBLISHED}, whose results were published "
                            "before the protocol; no split uses them")
    raise ProtocolError(f"seeds {seeds} lie outside the {purpose.value} split "
                        f"({', '.join(str(r) for r in SPLITS[purpose])})")


def seed_range_text(text: str) -> str:
    """argparse type for ``--seeds A..B``: checked at parse time, kept as text."""
    import argparse

    try:
        SeedRange.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def reported_seeds(seeds_text: str | None, episodes: int) -> tuple[SeedRange, Split | None]:
    """Seeds of a reported evaluation and the purpose to check them against: the user's
    range (``"A..B"``, a re-measurement with no purpose), else the first ``episodes`` test
    seeds."""
    if seeds_text is not None:
        return SeedRange.parse(seeds_text), None
    return split_seeds(Split.TEST, episodes), Split.TEST
