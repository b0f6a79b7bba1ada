"""Compare bench reports: per-variant values and changes against a base, and CI gates.

The first ``base_runs`` reports are runs of the base (one, or repeated runs of the same
bench); every later report is a candidate. A gate like ``return=-2%`` fails when a
candidate's value is worse than the base's by more than 2 % ("worse" in the metric's own
sense: lower return is worse, Pendulum's negative returns included; higher cost, latency
or energy is worse).

Two kinds of metric, two kinds of gate (docs/reports.md#gates):

- deterministic ones (return on fixed seeds, % of float, device cost, energy derived from
  it, sizes, mismatches) are equal in identical runs, so an exact threshold is fair;
- host-timed ones (round-trip latency) drift between identical runs on a loaded machine
  by far more than any statistic inside one run shows (+-47 % seen on qemu-m4). A gate on
  them needs at least :data:`MIN_TIMED_BASE_RUNS` base runs, and fails only when the
  candidate lies outside the base runs' spread by more than the threshold.

A metric whose unit differs between base and candidate (device cost in instructions on
QEMU, in ns natively) is shown side by side but never as a change, and gating on it is
refused. A variant of the base missing from a candidate fails every gate.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from qhil.common.errors import ConfigError

__all__ = ["Metric", "METRICS", "Gate", "parse_gates", "compare_reports", "Comparison",
           "Row", "MIN_TIMED_BASE_RUNS", "junit_xml", "report_labels", "env_mismatch"]

#: Base runs a gate on a host-timed metric needs.
MIN_TIMED_BASE_RUNS = 3


def _cost_unit(report: dict[str, Any]) -> str:
    return str(report.get("target", {}).get("cost_unit") or "?")


@dataclass(frozen=True)
class Metric:
    """One number of a variant entry in report.json.

    :param path: dotted path inside the variant entry
    :param unit: fixed unit, or a function of the report (device cost's unit is the target's)
    :param host_timed: measured with the host's clock, so it drifts between identical runs
    """

    name: str
    path: str
    higher_is_better: bool
    unit: str | Callable[[dict[str, Any]], str]
    host_timed: bool = False
    description: str = ""

    def unit_in(self, report: dict[str, Any]) -> str:
        return self.unit if isinstance(self.unit, str) else self.unit(report)

    def value_in(self, variant: dict[str, Any] | None) -> float | None:
        value: Any = variant
        for key in self.path.split("."):
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value) if isinstance(value, (int, float)) else None


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("return", "return.mean", True, "return", description="mean return, clean episodes"),
    Metric("percent_of_float", "percent_of_float", True, "%",
           description="paired % of float"),
    Metric("latency_p50", "latency_ms.p50", False, "ms", host_timed=True,
           description="median round trip, host clock"),
    Metric("latency_p99", "latency_ms.p99", False, "ms", host_timed=True,
           description="p99 round trip, host clock"),
    Metric("cost", "device_cost.median", False, _cost_unit,
           description="median on-device cost per action"),
    Metric("energy", "energy.device.uj", False, "µJ",
           description="device energy per action (board profile)"),
    Metric("op_energy", "energy.op_level.total_pj", False, "pJ",
           description="op-level energy estimate per action"),
    Metric("weight_bytes", "sizes.weight_bytes", False, "B", description="weight bytes"),
    Metric("blob_bytes", "sizes.blob_bytes", False, "B", description="model blob bytes"),
    Metric("device_bytes", "sizes.device_bytes", False, "B",
           description="bytes the device was sent (the device image)"),
)}


@dataclass(frozen=True)
class Gate:
    metric: Metric
    limit_percent: float  # signed: -2 for "may drop 2 %", +10 for "may grow 10 %"

    def __str__(self) -> str:
        return f"{self.metric.name}={self.limit_percent:+g}%"


def parse_gates(text: str | None) -> list[Gate]:
    if not text:
        return []
    gates = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\w+)\s*=\s*([+-]?\d+(?:\.\d+)?)%\s*", part)
        if not m or m.group(1) not in METRICS:
            raise ConfigError(f"bad gate '{part}': use METRIC=+N% or METRIC=-N% with METRIC in "
                              f"{', '.join(METRICS)}")
        gates.append(Gate(METRICS[m.group(1)], float(m.group(2))))
    return gates


def relative_change(base: float, new: float, metric: Metric) -> float:
    """Change in %, with the sign of "higher": -100 -> -120 return is -16.7 % for Pendulum
    because % of float inverts negative returns (docs/evaluation.md)."""
    if base == 0:
        return 0.0 if new == 0 else float("inf") * (1 if new > base else -1)
    if metric.name == "return" and base < 0:
        return 100.0 * (base / new - 1.0) if new < 0 else float("inf")
    return 100.0 * (new - base) / abs(base)


@dataclass
class Row:
    """One variant's metric across reports.

    ``changes[i]`` is report i against the base (the median of the base runs); None for
    the base runs themselves, where the value is missing, or where the units differ.
    """

    variant: str
    metric: Metric
    units: list[str | None]
    values: list[float | None]
    changes: list[float | None]

    @property
    def units_differ(self) -> bool:
        return len({u for u in self.units if u is not None}) > 1

    def as_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "metric": self.metric.name,
                "host_timed": self.metric.host_timed, "units": self.units,
                "values": self.values, "changes_percent": self.changes,
                "units_differ": self.units_differ}


@dataclass
class Comparison:
    rows: list[Row]
    gates: list[Gate]
    base_runs: int
    failures: dict[str, list[str]] = field(default_factory=dict)  # str(gate) -> messages

    @property
    def failed(self) -> bool:
        return any(self.failures.values())

    def as_dict(self) -> dict[str, Any]:
        return {"base_runs": self.base_runs, "rows": [r.as_dict() for r in self.rows],
                "gates": [{"gate": str(g), "failures": self.failures.get(str(g), [])}
                          for g in self.gates],
                "passed": not self.failed}


def _variants(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in report["variants"]}


def _check_gates(reports: list[dict[str, Any]], names: list[str], gates: list[Gate],
                 base_runs: int) -> None:
    """Refuse, before any value is judged, gates that cannot be fair."""
    for gate in gates:
        metric = gate.metric
        if metric.host_timed and base_runs < MIN_TIMED_BASE_RUNS:
            raise ConfigError(
                f"gate {gate}: {metric.name} is timed by the host clock and drifts between "
                f"identical runs; give at least {MIN_TIMED_BASE_RUNS} base runs "
                f"(--base-runs) or gate on deterministic metrics (return, cost, energy)")
        units = {metric.unit_in(r) for r in reports}
        if len(units) > 1:
            raise ConfigError(
                f"gate {gate}: the reports measure {metric.name} in different units "
                f"({', '.join(f'{names[i]}: {metric.unit_in(r)}' for i, r in enumerate(reports))}); "
                "compare them side by side without a gate")


def report_labels(count: int, base_runs: int) -> list[str]:
    """Short names of the reports in a comparison's table and messages: ``base`` (or
    ``base1``..) and ``new`` (or ``new1``..)."""
    cands = count - base_runs
    return ([("base" if base_runs == 1 else f"base{i + 1}") for i in range(base_runs)] +
            [("new" if cands == 1 else f"new{i + 1}") for i in range(cands)])


def env_mismatch(reports: list[dict[str, Any]], names: list[str]) -> str | None:
    """Why the reports do not measure the same task (None: they do)."""
    envs = [str(r.get("env_id", "?")) for r in reports]
    if len(set(envs)) <= 1:
        return None
    return ("the reports are of different envs (" +
            ", ".join(f"{n}: {e}" for n, e in zip(names, envs, strict=True)) +
            "): their returns are not comparable")


def compare_reports(reports: list[dict[str, Any]], gates: list[Gate], base_runs: int = 1,
                    names: list[str] | None = None,
                    allow_env_mismatch: bool = False) -> Comparison:
    """Rows for every variant of the base and metric it has, and each gate's failures.

    :param base_runs: how many of the first reports are runs of the base
    :param names: labels of the reports in messages (default :func:`report_labels`)
    :param allow_env_mismatch: compare reports of different envs anyway
    :raises ConfigError: fewer than one candidate, reports of different envs, or a gate
        that cannot be fair
    """
    if base_runs < 1 or len(reports) <= base_runs:
        raise ConfigError(f"compare needs {base_runs} base report(s) and at least one "
                          f"candidate; got {len(reports)} report(s)")
    names = names or report_labels(len(reports), base_runs)
    mismatch = env_mismatch(reports, names)
    if mismatch and not allow_env_mismatch:
        raise ConfigError(mismatch + " (--allow-env-mismatch compares them anyway)")
    _check_gates(reports, names, gates, base_runs)
    base_names: list[str] = []
    for rep in reports[:base_runs]:
        base_names += [n for n in _variants(rep) if n not in base_names]
    by_report = [_variants(r) for r in reports]
    rows: list[Row] = []
    for name in base_names:
        for metric in METRICS.values():
            values = [metric.value_in(v.get(name)) for v in by_report]
            if all(v is None for v in values[:base_runs]):
                continue
            units = [metric.unit_in(r) if values[i] is not None else None
                     for i, r in enumerate(reports)]
            base_values = [v for v in values[:base_runs] if v is not None]
            ref = statistics.median(base_values)
            changes: list[float | None] = [None] * base_runs
            for value, unit in zip(values[base_runs:], units[base_runs:], strict=True):
                changes.append(None if value is None or unit != units[0]
                               else relative_change(ref, value, metric))
            rows.append(Row(name, metric, units, values, changes))
    comparison = Comparison(rows, gates, base_runs)
    for gate in gates:
        comparison.failures[str(gate)] = _judge(gate, rows, by_report, base_names, base_runs,
                                                names)
    return comparison


def _judge(gate: Gate, rows: list[Row], by_report: list[dict[str, dict[str, Any]]],
           base_names: list[str], base_runs: int, names: list[str]) -> list[str]:
    metric = gate.metric
    failures: list[str] = []
    for i in range(base_runs, len(by_report)):
        missing = [n for n in base_names if n not in by_report[i]]
        failures += [f"{n}: the base's variant is missing from {names[i]}" for n in missing]
    for row in rows:
        if row.metric is not metric:
            continue
        base_values = [v for v in row.values[:base_runs] if v is not None]
        # The edge of the base runs on the "worse" side: with one run, the run itself.
        edge = min(base_values) if metric.higher_is_better else max(base_values)
        for i in range(base_runs, len(row.values)):
            new = row.values[i]
            if row.variant not in by_report[i]:
                continue  # reported above
            if new is None:
                failures.append(f"{row.variant}: {metric.name} is missing from {names[i]}")
                continue
            change = relative_change(edge, new, metric)
            worse = (change < gate.limit_percent if metric.higher_is_better
                     else change > gate.limit_percent)
            if worse:
                against = names[0] if base_runs == 1 else f"the worst of {base_runs} base runs"
                failures.append(f"{row.variant}: {metric.name} changed {change:+.1f}% in "
                                f"{names[i]} against {against} (limit {gate.limit_percent:+g}%)")
    return failures


def junit_xml(comparison: Comparison) -> str:
    """A JUnit XML document with one testcase per gate, for CI test summaries."""
    suite = ElementTree.Element("testsuite", name="qhil compare",
                                tests=str(len(comparison.gates)),
                                failures=str(sum(1 for g in comparison.gates
                                                 if comparison.failures.get(str(g)))))
    for gate in comparison.gates:
        case = ElementTree.SubElement(suite, "testcase", classname="qhil.compare",
                                      name=str(gate))
        messages = comparison.failures.get(str(gate), [])
        if messages:
            failure = ElementTree.SubElement(case, "failure", message=messages[0])
            failure.text = "\n".join(messages)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
