"""Per-part sensitivity: what quantizing one part of the policy, and only it, costs.

A *part* is one layer's weights (``w0``, ``w1``, ...), one layer's output activations
(``a0``, ``a1``, ...; the last is the tanh table's index, i.e. the output precision) or
the input (``in``). Every other part stays at the reference widths (8-bit weights and
activations, 16-bit inputs: near-lossless). Each probe is post-training quantized and
measured twice: the action error against the float policy on the calibration states
(cheap, batched) and the closed-loop return on validation seeds (what matters; action
error predicts it poorly at low widths).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qhil.common.evaluation import evaluate_policy, percent_of_float
from qhil.common.model_dir import ModelDir
from qhil.common.protocol import Split, split_seeds
from qhil.quant.config import BitConfig
from qhil.quant.golden import GoldenExecutor
from qhil.quant.pipeline import Calibrator
from qhil.quant.policy import QuantPolicy, dequantize_action, quantize_obs

__all__ = ["Probe", "SensitivityRow", "reference_bits", "probes", "profile", "part_names"]

REFERENCE_W = 8
REFERENCE_A = 8
REFERENCE_IN = 16
WIDTHS = (2, 3, 4, 6, 8)
IN_WIDTHS = (4, 6, 8, 10, 12, 16)


def reference_bits(n_layers: int) -> BitConfig:
    return BitConfig((REFERENCE_W,) * n_layers, (REFERENCE_A,) * n_layers, REFERENCE_IN)


def part_names(n_layers: int) -> list[str]:
    return [f"w{i}" for i in range(n_layers)] + [f"a{i}" for i in range(n_layers)] + ["in"]


def with_part(bits: BitConfig, part: str, width: int) -> BitConfig:
    """``bits`` with one part set to ``width``."""
    if part == "in":
        return dataclasses.replace(bits, in_bits=width)
    index = int(part[1:])
    if part[0] == "w":
        return dataclasses.replace(bits, w=bits.w[:index] + (width,) + bits.w[index + 1:])
    return dataclasses.replace(bits, a=bits.a[:index] + (width,) + bits.a[index + 1:])


def width_of(bits: BitConfig, part: str) -> int:
    if part == "in":
        return bits.in_bits
    return (bits.w if part[0] == "w" else bits.a)[int(part[1:])]


@dataclass(frozen=True)
class Probe:
    part: str
    bits: int


@dataclass
class SensitivityRow:
    part: str
    bits: int
    config: str
    return_mean: float
    return_std: float
    percent_of_float: float
    action_rmse: float


def probes(n_layers: int, widths: Iterable[int] = WIDTHS,
           in_widths: Iterable[int] = IN_WIDTHS) -> list[Probe]:
    out = []
    for part in part_names(n_layers):
        for b in (in_widths if part == "in" else widths):
            out.append(Probe(part, b))
    return out


def profile(model: ModelDir, calibrator: Calibrator, probe_list: list[Probe],
            episodes: int = 5, float_return: float | None = None,
            on_row: Callable[[SensitivityRow], None] | None = None) -> list[SensitivityRow]:
    """Measure every probe; ``on_row`` sees each row as it is done (progress, saving).

    :param float_return: the float policy's return on the same validation seeds
        (measured here when not given)
    """
    n_layers = len(model.actor.weights)
    base = reference_bits(n_layers)
    seeds = split_seeds(Split.VALIDATION, episodes)
    states = calibrator.observations
    teacher = model.actor.act(states)
    if float_return is None:
        float_return = evaluate_policy(model.actor, model.env_id, seeds,
                                       Split.VALIDATION).mean
    rows = []
    for probe in probe_list:
        bits = with_part(base, probe.part, probe.bits)
        qmodel = calibrator.quantize(bits)
        codes = GoldenExecutor(qmodel).action_codes(quantize_obs(qmodel, states))
        err = dequantize_action(qmodel, codes) - teacher
        scale = np.maximum(model.actor.action_high - model.actor.action_low, 1e-9)
        rmse = float(np.sqrt(np.mean((err / scale) ** 2)))
        result = evaluate_policy(QuantPolicy(qmodel), model.env_id, seeds, Split.VALIDATION)
        row = SensitivityRow(probe.part, probe.bits, str(bits), float(result.mean),
                             float(result.std), percent_of_float(result.mean, float_return),
                             rmse)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def as_table(rows: list[SensitivityRow]) -> dict[str, dict[int, float]]:
    """``{part: {bits: percent_of_float}}`` for heatmaps and the search."""
    table: dict[str, dict[int, float]] = {}
    for r in rows:
        table.setdefault(r.part, {})[r.bits] = r.percent_of_float
    return table


def to_json(rows: list[SensitivityRow]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(r) for r in rows]


def from_json(data: list[dict[str, Any]]) -> list[SensitivityRow]:
    return [SensitivityRow(**d) for d in data]
