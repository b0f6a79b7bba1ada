"""Automatic per-layer bit widths under a budget, from measured sensitivity.

Read top to bottom: budgets and their cost functions -> ``greedy`` (the search) ->
``neighbours`` (alternatives around its answer).

The search starts from the reference widths (8-bit weights and activations, 16-bit
inputs) and lowers one part at a time to a narrower profiled width (8, 6, 4, 3, 2;
inputs 16, 12, 10, 8, 6, 4), always the move that loses the least predicted return per
unit of budget saved, until the budget is met. The predicted loss of a configuration is the
sum over parts of the return lost when only that part was quantized (the sensitivity
profile): additive, as in HAWQ-style mixed-precision search, and only a ranking device -
every candidate is then trained (QAT) and measured in closed loop.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from qhil.autoquant.sensitivity import part_names, reference_bits, width_of, with_part
from qhil.common.errors import ConfigError
from qhil.quant.config import BitConfig
from qhil.quant.energy import op_energy

__all__ = ["Budget", "parse_budget", "CostFn", "weight_bytes", "energy_pj", "greedy",
           "neighbours", "predicted_loss", "LADDER", "IN_LADDER"]

LADDER = (8, 6, 4, 3, 2)
IN_LADDER = (16, 12, 10, 8, 6, 4)
CostFn = Callable[[BitConfig], float]


@dataclass(frozen=True)
class Budget:
    metric: str  # weight_bytes, cycles or energy (op-level pJ per inference)
    limit: float

    def __str__(self) -> str:
        return f"{self.metric}={self.limit:g}"


def parse_budget(text: str) -> Budget:
    m = re.fullmatch(r"\s*(weight_bytes|cycles|energy)\s*=\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*", text)
    if not m:
        raise ConfigError(f"bad budget '{text}': use weight_bytes=N, cycles=N or energy=PJ "
                          "(op-level pJ per inference)")
    return Budget(m.group(1), float(m.group(2)))


def weight_bytes(shapes: list[tuple[int, int]]) -> CostFn:
    """Packed weight bytes (rows byte-aligned, as in the blob)."""
    return lambda bits: float(sum(n_out * math.ceil(n_in * w / 8)
                                  for (n_out, n_in), w in zip(shapes, bits.w, strict=True)))


def energy_pj(shapes: list[tuple[int, int]]) -> CostFn:
    """Op-level energy per inference (Horowitz 45 nm; see qhil.quant.energy)."""
    return lambda bits: op_energy(shapes, bits)["total_pj"]


def predicted_loss(bits: BitConfig, loss: dict[str, dict[int, float]]) -> float:
    """Sum over parts of the % of float lost when only that part is at its width."""
    n_layers = len(bits.w)
    return sum(loss[part].get(width_of(bits, part), math.inf) for part in part_names(n_layers))


def _lower(part: str, width: int, loss: dict[str, dict[int, float]]) -> int | None:
    """The next narrower width of ``part`` that was profiled."""
    ladder = IN_LADDER if part == "in" else LADDER
    below = [w for w in ladder if w < width and w in loss[part]]
    return below[0] if below else None


def _higher(part: str, width: int, loss: dict[str, dict[int, float]]) -> int | None:
    ladder = IN_LADDER if part == "in" else LADDER
    above = [w for w in ladder if w > width and w in loss[part]]
    return above[-1] if above else None


def greedy(n_layers: int, cost: CostFn, limit: float, loss: dict[str, dict[int, float]],
           start: BitConfig | None = None) -> list[BitConfig]:
    """The search path, from ``start`` (the reference widths) to the first configuration
    within ``limit``.

    :param loss: per part and width, the % of float lost (from the sensitivity profile)
    :raises ConfigError: when no configuration in the ladders meets the budget
    """
    state = start or reference_bits(n_layers)
    path = [state]
    while cost(state) > limit:
        best: tuple[float, float, BitConfig] | None = None
        for part in part_names(n_layers):
            current = width_of(state, part)
            # every narrower width, not just the next: with byte-aligned rows a step can
            # save nothing (3 inputs take 3 bytes at 8 bits and at 6)
            for width in (w for w in loss[part] if w < current):
                new = with_part(state, part, width)
                saved = cost(state) - cost(new)
                if saved <= 0:
                    continue  # this part does not count for this budget
                extra = max(loss[part][width] - loss[part][current], 0.0)
                score = (extra / saved, -saved)
                if best is None or score < best[:2]:
                    best = (*score, new)
        if best is None:
            raise ConfigError(f"no configuration within the budget (the smallest reached costs "
                              f"{cost(state):g}, limit {limit:g})")
        state = best[2]
        path.append(state)
    return path


def neighbours(bits: BitConfig, cost: CostFn, limit: float, loss: dict[str, dict[int, float]],
               count: int) -> list[BitConfig]:
    """Up to ``count`` other configurations within ``limit`` one or two steps away (one part
    a step wider, or narrower, or one wider and another narrower), lowest predicted loss
    first: the alternatives the additive model cannot tell apart from the greedy answer."""
    parts = part_names(len(bits.w))
    options: list[BitConfig] = []
    for part in parts:
        for step in (_higher, _lower):
            width = step(part, width_of(bits, part), loss)
            if width is None:
                continue
            moved = with_part(bits, part, width)
            options.append(moved)
            if step is _higher:
                options += [with_part(moved, other, w) for other in parts if other != part
                            if (w := _lower(other, width_of(moved, other), loss)) is not None]
    found = {str(b): b for b in options if b != bits and cost(b) <= limit}
    ranked = sorted(found.values(), key=lambda b: (predicted_loss(b, loss), cost(b)))
    return ranked[:count]


def loss_table(percent: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
    """% of float -> % lost (never negative: a probe above parity is noise, not a gain)."""
    return {part: {w: max(100.0 - p, 0.0) if math.isfinite(p) else 0.0
                   for w, p in widths.items()} for part, widths in percent.items()}
