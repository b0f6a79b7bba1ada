"""Bench reports: a versioned JSON document (the machine-readable truth) and Markdown.

Schema ``qhil-report/1`` (top level): ``schema``, ``created``, ``qhil``, ``git``,
``versions``, ``env_id``, ``model``, ``target`` (name, kind, board, cpu, firmware,
kernel, cost_unit, clock_hz, memory), ``seeds``, ``control_period_s``, ``timing`` (mode,
clock, physics step, sub-steps: time in the loop, docs/evaluation.md), ``variants`` (one
object each: return, percent_of_float with its 95 % paired bootstrap interval
``percent_of_float_interval95`` (null where undefined, with the reason in
``percent_of_float_undefined``), ``return_difference_vs_float`` {mean, interval95},
early_terminations, latency_ms, device_cost, deadline_misses, bit_exact, sizes {blob,
weight and device arena bytes}, energy {op_level, device, platform: inference power
against the plant's own}, task_metrics, noise, action_error_vs_float {rmse, max,
sign_flips, components}, layer_costs), ``budget`` (the ceilings the report decides
under, or null), ``link`` (requests, retries, corrupt/stale frames, timeouts, injected
faults), ``energy_model`` (the table, board profile and plant power behind the energy
figures), ``incidents`` (device repairs), ``complete`` and ``progress`` (a run still
going, or stopped, is partial).
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qhil import __version__
from qhil.bench.runner import VariantResult
from qhil.common.errors import ConfigError
from qhil.common.evaluation import EvalResult, compare_paired, percent_of_float
from qhil.common.protocol import SeedRange
from qhil.common.provenance import git_sha, package_versions
from qhil.quant.energy import HOROWITZ_PJ, op_energy
from qhil.report.html import write_html
from qhil.report.markdown import markdown_summary
from qhil.targets.power import BoardProfile, describe, device_energy, platform_share

__all__ = ["SCHEMA", "build_report", "write_report", "load_report"]

SCHEMA = "qhil-report/1"


def _percentiles_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = np.asarray(values) * 1e3
    return {k: round(float(np.percentile(ms, q)), 4) for k, q in
            (("p50", 50), ("p95", 95), ("p99", 99))} | {"max": round(float(ms.max()), 4)}


def _clean_result(res: VariantResult) -> EvalResult | None:
    """The noise-free episodes as an evaluation on consecutive seeds (None if they are not)."""
    clean = sorted((e for e in res.episodes if e.noise == 0.0), key=lambda e: e.seed)
    if not clean or clean[-1].seed - clean[0].seed + 1 != len(clean):
        return None
    return EvalResult(np.asarray([e.ret for e in clean]), np.asarray([e.steps for e in clean]),
                      np.asarray([e.terminated for e in clean], bool),
                      SeedRange(clean[0].seed, clean[-1].seed + 1))


def _variant_entry(res: VariantResult, float_res: EvalResult | None, period: float, macs: int,
                   cost_unit: str, profile: BoardProfile | None,
                   layer_shapes: list[tuple[int, int]],
                   platform_power_w: float | None = None) -> dict[str, Any]:
    clean = [e for e in res.episodes if e.noise == 0.0]
    returns = [e.ret for e in clean]
    float_mean = float_res.mean if float_res is not None else None
    mine = _clean_result(res)
    paired = (compare_paired(mine, float_res) if mine is not None and float_res is not None
              and mine.seeds == float_res.seeds else None)
    if paired is not None:
        entry_difference: dict[str, Any] | None = {
            "mean": paired.difference, "interval95": list(paired.difference_interval)}
    else:
        entry_difference = None
    rtts = [t for e in clean for t in e.rtt_s]
    costs = [c for e in clean for c in e.cost]
    v = res.variant
    if v.qmodel is not None:  # a student may be wider than the float actor it came from
        macs = v.qmodel.n_macs
        layer_shapes = [(la.n_out, la.n_in) for la in v.qmodel.layers]
    entry: dict[str, Any] = {
        "name": v.name, "kind": v.kind, "bits": v.bits,
        "arithmetic": v.qmodel.arithmetic if v.qmodel is not None else None,
        "return": {"mean": float(np.mean(returns)), "std": float(np.std(returns)),
                   "per_episode": returns},
        "percent_of_float": (percent_of_float(float(np.mean(returns)), float_mean)
                             if float_mean is not None and (paired is None or paired.defined)
                             else None),
        "percent_of_float_interval95": (list(paired.interval) if paired is not None
                                        and paired.defined else None),
        "return_difference_vs_float": entry_difference,
        "early_terminations": int(sum(e.terminated for e in clean)),
        "steps": int(sum(e.steps for e in clean)),
        "latency_ms": _percentiles_ms(rtts),
        "deadline_misses": int(sum(t > period for t in rtts)) if period > 0 else None,
        "deadline_misses_judged_on": "host round trip (the harness's link)",
        "sizes": {"blob_bytes": (v.file_bytes or len(v.blob)) if v.blob else None,
                  "device_bytes": len(v.blob) if v.blob else None,
                  "weight_bytes": v.weight_bytes(macs),
                  "arena_bytes": next((e.arena_bytes for e in res.episodes if e.arena_bytes),
                                      None)},
    }
    if rtts:
        ms = np.asarray(rtts) * 1e3
        edges = np.geomspace(max(ms.min(), 1e-3), max(ms.max(), 1e-3) * 1.0001, 31)
        counts, _ = np.histogram(ms, bins=edges)
        entry["latency_hist_ms"] = {"edges": [round(float(e), 5) for e in edges],
                                    "counts": [int(c) for c in counts]}
    energy: dict[str, Any] = {
        "op_level": op_energy(layer_shapes, v.qmodel.bits if v.qmodel is not None else None)}
    if costs:
        med = float(np.median(costs))
        entry["device_cost"] = {"median": med, "min": float(np.min(costs)),
                                "max": float(np.max(costs)), "per_mac": med / macs}
        if profile is not None:
            energy["device"] = device_energy(med, cost_unit, profile)
            if energy["device"] and platform_power_w and period > 0:
                energy["platform"] = platform_share(energy["device"]["uj"], period,
                                                    platform_power_w, profile)
    entry["energy"] = energy
    entry |= v.check_fields(clean, res.episodes)
    per_layer = [e.layer_costs for e in clean if e.layer_costs]
    if per_layer:
        entry["layer_costs"] = [float(np.median(c)) for c in zip(*per_layer, strict=True)]
    errors = [e.action_error for e in clean if e.action_error]
    if errors:
        count = sum(e["count"] for e in errors)
        entry["action_error_vs_float"] = {
            "rmse": math.sqrt(sum(e["sum_sq"] for e in errors) / max(count, 1)),
            "max": max(e["max"] for e in errors),
            "sign_flips": int(sum(e["sign_flips"] for e in errors)), "components": count,
            "unit": "action half-range"}
    names = sorted({n for e in clean for n in e.metrics})
    if names:  # the env's own task metrics, RMS per episode, mean over the episodes
        entry["task_metrics"] = {n: float(np.mean([e.metrics[n] for e in clean
                                                   if n in e.metrics])) for n in names}
    timed = [e.timing for e in clean if e.timing]
    if timed:
        inferences = sum(t["inferences"] for t in timed)
        entry["timing"] = {
            "inferences": inferences,
            "latency_us": {"median": float(np.median([t["latency_us"][1] for t in timed])),
                           "max": max(t["latency_us"][2] for t in timed)},
            "delay_steps": {"median": float(np.median([t["delay_steps"][1] for t in timed])),
                            "max": max(t["delay_steps"][2] for t in timed)}}
        # judged on the device's time: a tick that passed with no new action
        entry["harness_deadline_misses"] = entry["deadline_misses"]
        entry["deadline_misses"] = int(sum(t["misses"] for t in timed))
        entry["deadline_misses_judged_on"] = "device time (--timing)"
    if paired is not None and not paired.defined:
        entry["percent_of_float_undefined"] = paired.undefined_reason
    if res.model_id is not None:
        entry["model_id"] = f"0x{res.model_id:08x}"
    noisy: dict[str, dict[str, float]] = {}
    for level in sorted({e.noise for e in res.episodes if e.noise}):
        r = [e.ret for e in res.episodes if e.noise == level]
        noisy[str(level)] = {"mean": float(np.mean(r)), "std": float(np.std(r))}
    if noisy:
        entry["noise"] = noisy
    return entry


def build_report(results: list[VariantResult], *, env_id: str, model_path: str,
                 model_meta: dict[str, Any], target: dict[str, Any], seeds: list[int],
                 period: float, macs: int, link: dict[str, int],
                 profile: BoardProfile | None = None,
                 layer_shapes: list[tuple[int, int]] | None = None,
                 timing: dict[str, Any] | None = None,
                 platform_power_w: float | None = None) -> dict[str, Any]:
    float_res = None
    for res in results:
        if res.variant.is_float_baseline:
            float_res = _clean_result(res)
    float_mean = float_res.mean if float_res is not None else None
    shapes = layer_shapes or []
    unit = str(target.get("cost_unit", ""))
    variants = [_variant_entry(r, float_res, period, macs, unit, profile, shapes,
                               platform_power_w) for r in results]
    if float_mean is not None:  # noise robustness as % of the clean float return
        for v in variants:
            for stats in v.get("noise", {}).values():
                stats["percent_of_float"] = percent_of_float(stats["mean"], float_mean)
    return {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "qhil": __version__, "git": git_sha(), "versions": package_versions(),
        "env_id": env_id, "model": model_path,
        "model_train": {k: model_meta.get(k) for k in ("algo", "net")} |
                       {"float_eval": model_meta.get("eval", {}).get("mean")},
        "target": target, "seeds": seeds, "control_period_s": period, "macs": macs,
        "variants": variants, "link": link, "timing": timing or {"mode": "none"},
        "energy_model": {"op_level": "Horowitz ISSCC 2014, 45 nm; widths below 8 bits and "
                                     "memory traffic as stated in qhil.quant.energy",
                         "horowitz_pj": HOROWITZ_PJ,
                         "board_profile": describe(profile) if profile else None,
                         "platform_power_w": platform_power_w},
    }


def write_report(report: dict[str, Any], out_dir: Path, html: bool = True) -> Path:
    """Write ``report.json``, ``summary.md`` (and ``report.html``) atomically; returns the
    JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    for name, text in (("report.json", json.dumps(report, indent=2, default=_jsonable) + "\n"),
                       ("summary.md", markdown_summary(report))):
        tmp = out_dir / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, out_dir / name)
    if html:
        write_html(report, out_dir / "report.html")
    return path


def _jsonable(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def load_report(path: Path) -> dict[str, Any]:
    """Read a report; a different schema version is a clear error, not a crash."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read report '{path}': {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise ConfigError(f"'{path}' is a {found or 'non-qhil'} report; this qhil reads {SCHEMA}")
    return data
