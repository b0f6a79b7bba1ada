"""Compare bench reports: per-variant deltas against the first report, and CI gates.

A gate like ``return=-2%`` fails when a variant's return got worse by more than 2 % (in
the % of float sense: lower is worse, Pendulum included); ``latency_p99=+10%`` and
``energy=+5%``/``cost=+5%`` fail when those grew by more than the given percentage
(``energy`` is the device energy per action where the target has a board profile, else
the op-level estimate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from qhil.common.errors import ConfigError

__all__ = ["Gate", "parse_gates", "compare_reports", "METRICS"]

#: metric name -> (getter, higher is better)
METRICS: dict[str, tuple[str, bool]] = {
    "return": ("return.mean", True),
    "percent_of_float": ("percent_of_float", True),
    "latency_p50": ("latency_ms.p50", False),
    "latency_p99": ("latency_ms.p99", False),
    "cost": ("device_cost.median", False),
    "energy": ("energy.device.uj", False),
    "op_energy": ("energy.op_level.total_pj", False),
}


@dataclass(frozen=True)
class Gate:
    metric: str
    limit_percent: float  # signed: -2 for "may drop 2 %", +10 for "may grow 10 %"


def parse_gates(text: str | None) -> list[Gate]:
    if not text:
        return []
    gates = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\w+)\s*=\s*([+-]?\d+(?:\.\d+)?)%\s*", part)
        if not m or m.group(1) not in METRICS:
            raise ConfigError(f"bad gate '{part}': use METRIC=+N% or METRIC=-N% with METRIC in "
                              f"{', '.join(METRICS)}")
        gates.append(Gate(m.group(1), float(m.group(2))))
    return gates


def _get(entry: dict[str, Any], path: str) -> float | None:
    value: Any = entry
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, (int, float)) else None


def _relative_change(base: float, new: float, higher_better: bool, metric: str) -> float:
    """Change in %, signed so that negative is worse for higher-is-better metrics."""
    if base == 0:
        return 0.0 if new == 0 else float("inf") * (1 if new > base else -1)
    if metric == "return" and base < 0:  # negative returns: -100 -> -120 is 20 % worse
        return 100.0 * (base / new - 1.0) if new < 0 else float("inf")
    return 100.0 * (new - base) / abs(base)


def _values(reports: list[dict[str, Any]], name: str, path: str) -> list[float | None]:
    """Variant ``name``'s value at ``path`` in each report (None where absent)."""
    values = []
    for rep in reports:
        other = {v["name"]: v for v in rep["variants"]}.get(name)
        values.append(_get(other, path) if other else None)
    return values


def compare_reports(reports: list[dict[str, Any]], gates: list[Gate]
                    ) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of (variant, metric, values per report, change vs the first) and gate failures."""
    if len(reports) < 2:
        raise ConfigError("compare needs at least two reports")
    base = {v["name"]: v for v in reports[0]["variants"]}
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for name in base:
        for metric, (path, higher_better) in METRICS.items():
            values = _values(reports, name, path)
            if values[0] is None and metric == "energy":
                # no board profile: the energy gate falls back to the op-level estimate
                values = _values(reports, name, METRICS["op_energy"][0])
            if values[0] is None:
                continue
            changes = [None if v is None else _relative_change(values[0], v, higher_better, metric)
                       for v in values]
            rows.append({"variant": name, "metric": metric, "values": values, "changes": changes})
    for gate in gates:
        _, higher_better = METRICS[gate.metric]
        for row in rows:
            if row["metric"] != gate.metric:
                continue
            for i, change in enumerate(row["changes"][1:], start=1):
                if change is None:
                    continue
                worse = change < gate.limit_percent if higher_better else change > gate.limit_percent
                if worse:
                    failures.append(f"{row['variant']}: {gate.metric} changed {change:+.1f}% in "
                                    f"report {i + 1} (limit {gate.limit_percent:+.1f}%)")
    return rows, failures
