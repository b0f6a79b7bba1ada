"""What a report decides: the best variant under the user's budget and the Pareto fronts.

A budget is a list of ceilings on lower-is-better metrics of :mod:`qhil.report.compare`
(``weight_bytes=2000,cost=30000``: weight bytes and device cost per action at most these).
The best variant is the one with the highest return among those that run on the device
and meet every ceiling (with no budget: among all that run on the device), ties going to
the fewer weight bytes. A variant is on the Pareto front of an axis (device cost, energy,
weight bytes) when no other variant has at least its return for at most its cost on that
axis, one of the two strictly better. Markdown and HTML render the same
:class:`Decision`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qhil.common.errors import ConfigError
from qhil.common.evaluation import paired_difference, percent_of_float
from qhil.report.compare import METRICS, Metric

__all__ = ["Ceiling", "parse_budget", "Decision", "decide", "FRONT_AXES"]

#: Pareto axes: return against each of these (all lower-is-better).
FRONT_AXES = ("cost", "energy", "op_energy", "weight_bytes")


@dataclass(frozen=True)
class Ceiling:
    metric: Metric
    limit: float

    def __str__(self) -> str:
        return f"{self.metric.name} <= {self.limit:g}"


def parse_budget(text: str | None) -> list[Ceiling]:
    """``weight_bytes=2000,cost=3e4`` -> ceilings; only lower-is-better metrics."""
    if not text:
        return []
    ceilings = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\w+)\s*=\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*", part)
        metric = METRICS.get(m.group(1)) if m else None
        if m is None or metric is None or metric.higher_is_better or metric.host_timed:
            allowed = [n for n, x in METRICS.items() if not x.higher_is_better and not x.host_timed]
            raise ConfigError(f"bad budget '{part}': use METRIC=N with METRIC in "
                              f"{', '.join(allowed)}")
        ceilings.append(Ceiling(metric, float(m.group(2))))
    return ceilings


@dataclass
class Decision:
    budget: list[str]
    best: str | None
    why: str
    fronts: dict[str, list[str]] = field(default_factory=dict)  # axis -> variants, by cost
    over_budget: dict[str, str] = field(default_factory=dict)  # variant -> first broken ceiling

    def as_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "best": self.best, "why": self.why,
                "pareto_fronts": self.fronts, "over_budget": self.over_budget}


def _front(points: list[tuple[float, float, str]]) -> list[str]:
    """Names not dominated in (cost lower, return higher), ordered by cost."""
    names = []
    for cost, ret, name in points:
        dominated = any(c <= cost and r >= ret and (c < cost or r > ret)
                        for c, r, _ in points)
        if not dominated:
            names.append(name)
    order = {name: cost for cost, _, name in points}
    return sorted(names, key=lambda n: order[n])


def decide(report: dict[str, Any], budget: list[Ceiling]) -> Decision:
    variants = report["variants"]
    fronts: dict[str, list[str]] = {}
    for axis in FRONT_AXES:
        metric = METRICS[axis]
        points = [(cost, v["return"]["mean"], v["name"]) for v in variants
                  if (cost := metric.value_in(v)) is not None]
        if len(points) >= 2:
            fronts[axis] = _front(points)
    over: dict[str, str] = {}
    for v in variants:
        for ceiling in budget:
            value = ceiling.metric.value_in(v)
            if value is None or value > ceiling.limit:
                over[v["name"]] = (f"{ceiling.metric.name} "
                                   f"{'unknown' if value is None else format(value, '.4g')} > "
                                   f"{ceiling.limit:g}")
                break
    candidates = [v for v in variants if v["kind"] != "host-float" and v["name"] not in over]
    if not candidates:
        why = ("no device variant meets the budget" if budget else "no device variant ran")
        return Decision([str(c) for c in budget], None, why, fronts, over)
    ranked = sorted(candidates, key=lambda v: (v["return"]["mean"],
                                               -(METRICS["weight_bytes"].value_in(v) or 0)),
                    reverse=True)
    best = ranked[0]
    why = (f"highest return among the {len(candidates)} device variant(s)"
           + (f" within {', '.join(str(c) for c in budget)}" if budget else "")
           + _standing(best))
    if len(ranked) > 1:
        why += _against_runner_up(best, ranked[1])
    falls = _falls_under_noise(best, variants)
    if falls:
        why += f"; under noise it falls: {falls}"
    return Decision([str(c) for c in budget], best["name"], why, fronts, over)


def _standing(v: dict[str, Any]) -> str:
    """A variant against float: % of float with its interval, or, where that is undefined
    (the float mean's interval contains 0), the paired return difference."""
    pct = v.get("percent_of_float")
    ci = v.get("percent_of_float_interval95")
    if pct is not None:
        return f": {pct:.1f} % of float" + (f" [{ci[0]:.1f}-{ci[1]:.1f}]" if ci else "")
    diff = v.get("return_difference_vs_float")
    if diff:
        lo, hi = diff["interval95"]
        return (f": return {diff['mean']:+.4g} vs float [{lo:+.4g} to {hi:+.4g}] (% of float is "
                "undefined: the float mean's interval contains 0, so variants are ranked by "
                "return)")
    return ""


def _against_runner_up(best: dict[str, Any], second: dict[str, Any]) -> str:
    """Whether the best and the runner-up can be told apart: the paired interval of their
    return difference (same seeds, docs/evaluation.md) excludes 0."""
    a, b = best["return"].get("per_episode"), second["return"].get("per_episode")
    if not a or not b or len(a) != len(b):
        return ""
    mean, (lo, hi) = paired_difference(np.asarray(a), np.asarray(b))
    if lo <= 0.0 <= hi:
        return (f"; it cannot be told apart from {second['name']} (return difference "
                f"{mean:+.4g}, 95 % interval {lo:+.4g} to {hi:+.4g} contains 0)")
    return f"; ahead of {second['name']} by {mean:+.4g} [{lo:+.4g} to {hi:+.4g}]"


#: Below this % of float under noise, a pick is named as one that falls under noise.
NOISE_FLOOR_PERCENT = 95.0


def _falls_under_noise(best: dict[str, Any], variants: list[dict[str, Any]]) -> str:
    """The noise levels at which the pick drops below :data:`NOISE_FLOOR_PERCENT` of the
    float policy at the same noise (empty: no noise was run, or it holds)."""
    ref = next((v for v in variants if v["kind"] == "host-float"), None)
    if ref is None or not best.get("noise"):
        return ""
    out = []
    for level, stats in sorted(best["noise"].items(), key=lambda kv: float(kv[0])):
        ref_stats = ref.get("noise", {}).get(level)
        if ref_stats is None:
            continue
        pct = percent_of_float(stats["mean"], ref_stats["mean"])
        if pct == pct and pct < NOISE_FLOOR_PERCENT:
            out.append(f"{best['name']} {pct:.1f} % of float at noise {level}")
    return ", ".join(out)
