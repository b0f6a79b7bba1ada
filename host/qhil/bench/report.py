"""Bench reports: a versioned JSON document (the machine-readable truth) and Markdown.

Schema ``qhil-report/1`` (top level): ``schema``, ``created``, ``qhil``, ``git``,
``versions``, ``env_id``, ``model``, ``target`` (name, kind, board, cpu, firmware,
kernel, cost_unit, clock_hz, memory), ``seeds``, ``control_period_s``, ``variants``
(one object each: return, percent_of_float with its 95 % paired bootstrap
interval ``percent_of_float_interval95``, early_terminations, latency_ms, device_cost, deadline_misses,
bit_exact, sizes {blob, weight and device arena bytes}, energy {op_level, device},
noise, action_error_vs_float {rmse, max, sign_flips, components}, layer_costs), ``budget`` (the ceilings
the report decides under, or null), ``link`` (requests, retries,
corrupt/stale frames, timeouts, injected faults), ``energy_model`` (the table and board
profile behind the energy figures), ``incidents`` (device repairs), ``complete`` and
``progress`` (a run still going, or stopped, is partial).
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
from qhil.bench.energy import HOROWITZ_PJ, BoardProfile, describe, device_energy, op_energy
from qhil.bench.runner import VariantResult
from qhil.common.errors import ConfigError
from qhil.common.evaluation import EvalResult, compare_paired, percent_of_float
from qhil.common.protocol import SeedRange
from qhil.common.provenance import git_sha, package_versions

__all__ = ["SCHEMA", "build_report", "write_report", "load_report", "markdown_summary",
           "table_head", "variant_cells", "decision_lines", "noise_table", "note_lines",
           "partial_line", "header_line", "action_error_table", "ACTION_ERROR_TITLE",
           "layer_cost_table"]

SCHEMA = "qhil-report/1"
ACTION_ERROR_TITLE = ("Action error vs float on the states each quantized variant visited "
                      "(clean episodes; units of the action half-range; a sign flip is an "
                      "action component the float policy pushes the other way):")


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
                   layer_shapes: list[tuple[int, int]]) -> dict[str, Any]:
    clean = [e for e in res.episodes if e.noise == 0.0]
    returns = [e.ret for e in clean]
    float_mean = float_res.mean if float_res is not None else None
    mine = _clean_result(res)
    paired = (compare_paired(mine, float_res) if mine is not None and float_res is not None
              and mine.seeds == float_res.seeds else None)
    rtts = [t for e in clean for t in e.rtt_s]
    costs = [c for e in clean for c in e.cost]
    v = res.variant
    entry: dict[str, Any] = {
        "name": v.name, "kind": v.kind, "bits": v.bits,
        "return": {"mean": float(np.mean(returns)), "std": float(np.std(returns)),
                   "per_episode": returns},
        "percent_of_float": (percent_of_float(float(np.mean(returns)), float_mean)
                             if float_mean is not None else None),
        "percent_of_float_interval95": list(paired.interval) if paired is not None else None,
        "early_terminations": int(sum(e.terminated for e in clean)),
        "steps": int(sum(e.steps for e in clean)),
        "latency_ms": _percentiles_ms(rtts),
        "deadline_misses": int(sum(t > period for t in rtts)) if period > 0 else None,
        "sizes": {"blob_bytes": len(v.blob) if v.blob else None,
                  "weight_bytes": v.qmodel.weight_bytes if v.qmodel is not None else 4 * macs,
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
    entry["energy"] = energy
    if v.kind == "device-int":
        # observations beyond the input range saturate (as an ADC would): worth knowing
        entry["input_saturations"] = int(sum(e.input_saturations for e in clean))
        entry["bit_exact"] = {"checked_steps": entry["steps"] + sum(
            e.steps for e in res.episodes if e.noise), "mismatches": res.mismatch_count,
            "examples": res.mismatches}
    if v.kind == "device-f32":
        entry["f32_max_abs_error"] = res.f32_max_error
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
                 layer_shapes: list[tuple[int, int]] | None = None) -> dict[str, Any]:
    float_res = None
    for res in results:
        if res.variant.kind == "host-float":
            float_res = _clean_result(res)
    float_mean = float_res.mean if float_res is not None else None
    shapes = layer_shapes or []
    unit = str(target.get("cost_unit", ""))
    variants = [_variant_entry(r, float_res, period, macs, unit, profile, shapes)
                for r in results]
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
        "variants": variants, "link": link,
        "energy_model": {"op_level": "Horowitz ISSCC 2014, 45 nm; widths below 8 bits and "
                                     "memory traffic as stated in qhil.bench.energy",
                         "horowitz_pj": HOROWITZ_PJ,
                         "board_profile": describe(profile) if profile else None},
    }


def write_report(report: dict[str, Any], out_dir: Path, html: bool = True) -> Path:
    """Write ``report.json``, ``summary.md`` (and ``report.html``) atomically; returns the
    JSON path."""
    from qhil.report.html import write_html

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


def _fmt(value: float | None, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def table_head(cost_unit: str) -> list[str]:
    """Column titles of the variant table (Markdown and HTML show the same table)."""
    return ["variant", "bits", "return", "% of float (95% CI)", "ended early", "RTT p50 ms",
            "RTT p99 ms", "deadline misses", f"device cost ({cost_unit})", "per MAC",
            "energy µJ", "op-level nJ", "bit-exact", "blob B", "arena B"]


def variant_cells(v: dict[str, Any]) -> list[str]:
    """One variant's row of the table, as plain text, from its report.json entry."""
    lat = v["latency_ms"]
    cost = v.get("device_cost", {})
    energy = v.get("energy", {})
    device_uj = (energy.get("device") or {}).get("uj")
    op_pj = energy.get("op_level", {}).get("total_pj")
    exact = v.get("bit_exact")
    exact_txt = ("yes" if exact["mismatches"] == 0 else f"NO ({exact['mismatches']})") \
        if exact else ("tol" if v["kind"] == "device-f32" else "-")
    ci = v.get("percent_of_float_interval95")
    pct = _fmt(v.get("percent_of_float")) + (f" ({ci[0]:.1f}-{ci[1]:.1f})" if ci else "")
    return [v["name"], v["bits"], f"{v['return']['mean']:.1f} ± {v['return']['std']:.1f}", pct,
            str(v.get("early_terminations", "-")), _fmt(lat.get("p50"), ".3f"),
            _fmt(lat.get("p99"), ".3f"),
            "-" if v.get("deadline_misses") is None else str(v["deadline_misses"]),
            _fmt(cost.get("median"), ".0f"),
            _fmt(cost.get("per_mac"), ".2f"), _fmt(device_uj, ".3f"),
            _fmt(op_pj / 1e3 if op_pj is not None else None, ".2f"), exact_txt,
            str(v["sizes"]["blob_bytes"] or "-"), str(v["sizes"].get("arena_bytes") or "-")]


def decision_lines(report: dict[str, Any]) -> list[str]:
    """The report's verdict in plain sentences (``**`` marks the best variant)."""
    from qhil.bench.compare import METRICS
    from qhil.bench.decide import decide, parse_budget

    d = decide(report, parse_budget(report.get("budget")))
    budget = f" under the budget {', '.join(d.budget)}" if d.budget else " (no budget given)"
    lines = [f"Best{budget}: **{d.best}**, {d.why}." if d.best else
             f"Best{budget}: none: {d.why}."]
    for axis, names in d.fronts.items():
        unit = METRICS[axis].unit_in(report)
        lines.append(f"Pareto front, return vs {axis} ({unit}): {', '.join(names)}.")
    if d.over_budget:
        lines.append("Over budget: " + "; ".join(f"{n} ({why})" for n, why in d.over_budget.items())
                     + ".")
    return lines


def noise_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Return under each observation noise level (and its % of the clean float return)."""
    levels = sorted({float(k) for v in report["variants"] for k in v.get("noise", {})})
    head = ["variant", "clean"] + [f"noise {x:g}" for x in levels]
    rows = []
    for v in report["variants"]:
        noise = {float(k): stats for k, stats in v.get("noise", {}).items()}
        cells = [v["name"], f"{v['return']['mean']:.1f}"]
        for x in levels:
            stats = noise.get(x)
            cells.append("-" if stats is None else f"{stats['mean']:.1f}" + (
                f" ({stats['percent_of_float']:.1f} %)" if "percent_of_float" in stats else ""))
        rows.append(cells)
    return head, rows if levels else []


def action_error_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Quantized vs float action on the states each quantized variant visited."""
    head = ["variant", "RMSE", "max", "sign flips", "action components"]
    rows = []
    for v in report["variants"]:
        e = v.get("action_error_vs_float")
        if e:
            rows.append([v["name"], f"{e['rmse']:.4f}", f"{e['max']:.4f}",
                         f"{e['sign_flips']} ({100 * e['sign_flips'] / max(e['components'], 1):.1f} %)",
                         str(e["components"])])
    return head, rows


def layer_cost_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Each integer variant's on-device cost per layer (median over episodes)."""
    entries = [v for v in report["variants"] if v.get("layer_costs")]
    if not entries:
        return [], []
    n = max(len(v["layer_costs"]) for v in entries)
    head = ["variant", "bits"] + [f"layer {i}" for i in range(n)]
    rows = [[v["name"], v["bits"]] + [f"{c:,.0f}" for c in v["layer_costs"]] +
            ["-"] * (n - len(v["layer_costs"])) for v in entries]
    return head, rows


def note_lines(report: dict[str, Any]) -> list[str]:
    """The closing facts: link health, incidents, firmware memory, energy model, arena."""
    lines = []
    link = report["link"]
    lines.append(f"Link: {link['requests']} requests, {link['retries']} retries, "
                 f"{link['corrupt_frames']} corrupt and {link['stale_frames']} stale frames, "
                 f"{link['timeouts']} timeouts"
                 + (f"; faults injected on purpose ({link['faults_injected']})."
                    if link.get("faults_injected") else "."))
    incidents = report.get("incidents") or []
    if incidents:
        lines.append(f"Incidents: {len(incidents)} device repairs (" + "; ".join(
            f"{i.get('variant', '?')} seed {i.get('seed', '?')}: {i['action']}"
            for i in incidents[:5]) + (" ..." if len(incidents) > 5 else "") + ").")
    memory = report["target"].get("memory")
    if memory:
        lines.append(f"Firmware: {memory['flash']:,} B flash, {memory['ram']:,} B static RAM "
                     "(from the ELF; the model arena is part of the RAM).")
    period = report.get("control_period_s") or 0
    if period:
        lines.append(f"Deadline misses: steps whose device answer took longer than the env's "
                     f"control period ({period * 1e3:.1f} ms), host round trip included.")
    profile = (report.get("energy_model") or {}).get("board_profile")
    if profile:
        lines.append(f"Energy µJ: cost × {profile['mcu']} at {profile['clock_hz'] / 1e6:.0f} MHz, "
                     f"{profile['vdd_v']} V, {profile['run_ua_per_mhz']} µA/MHz "
                     f"(profile {profile['name']}"
                     + ("" if profile["verified"] else ", figure not verified") + "). "
                     "Op-level nJ: Horowitz 45 nm table (qhil.bench.energy).")
    else:
        lines.append("Energy: op-level only (Horowitz 45 nm table); no board profile for this "
                     "target (give one with --board-profile).")
    if any(v["sizes"].get("arena_bytes") for v in report["variants"]):
        lines.append("Arena B: device RAM each model takes, the blob plus any weight copy the "
                     "kernel makes at load (the M4/M7 kernel widens codes when there is room).")
    return lines


def partial_line(report: dict[str, Any]) -> str | None:
    """What a partial run has done (shown after a bold PARTIAL label), or None."""
    progress = report.get("progress")
    if report.get("complete") is False and progress:
        return (f"{progress['episodes_done']} of {progress['episodes_total']} "
                "episodes (finish with qhil bench --resume <dir>).")
    return None


def header_line(report: dict[str, Any]) -> str:
    t = report["target"]
    where = f" at {t['url']}" if t.get("url") else ""
    return (f"{len(report['seeds'])} episodes per variant (seeds {report['seeds'][0]}.."
            f"{report['seeds'][-1]}), board {t.get('board', '-')}{where}, {t.get('cpu', '-')}, "
            f"firmware {t.get('firmware', '-')}, kernel {t.get('kernel', '-')}; "
            f"qhil {report['qhil']} ({report['git'][:12]}).")


def markdown_summary(report: dict[str, Any]) -> str:
    t = report["target"]
    unit = t.get("cost_unit", "")
    lines = [f"# qhil bench: {report['env_id']} on {t['name']}", "", header_line(report), ""]
    partial = partial_line(report)
    if partial:
        lines += [f"**PARTIAL**: {partial}", ""]
    lines += ["| " + " | ".join(table_head(unit)) + " |",
              "|" + "---|" * len(table_head(unit))]
    lines += ["| " + " | ".join(variant_cells(v)) + " |" for v in report["variants"]]
    lines += ["", *decision_lines(report)]
    head, rows = noise_table(report)
    if rows:
        lines += ["", "Robustness to observation noise (return; % of the clean float return):",
                  "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    head, rows = layer_cost_table(report)
    if rows:
        lines += ["", f"On-device cost per layer ({unit}, one inference per episode, median):",
                  "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    head, rows = action_error_table(report)
    if rows:
        lines += ["", ACTION_ERROR_TITLE, "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", *note_lines(report)]
    lines.append("")
    return "\n".join(lines)
