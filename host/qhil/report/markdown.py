"""The Markdown summary of a report, and the tables and sentences the HTML page shares."""

from __future__ import annotations

import math
from typing import Any

from qhil.report.compare import METRICS
from qhil.report.decide import decide, parse_budget

__all__ = ["markdown_summary", "table_head", "table_columns", "variant_cells", "variant_values",
           "decision_lines", "noise_table", "note_lines", "partial_line", "header_line",
           "action_error_table", "ACTION_ERROR_TITLE", "layer_cost_table", "latency_table",
           "LATENCY_TITLE", "headline", "COLUMNS", "timing_table", "timing_title"]

ACTION_ERROR_TITLE = ("Action error vs float on the states each quantized variant visited "
                      "(clean episodes; units of the action half-range; a sign flip is an "
                      "action component the float policy pushes the other way):")


def _fmt(value: float | None, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


#: Columns of the variant table, in their default order: what a reader decides on first
#: (% of float, device cost, bit-exact, weight bytes), then the rest. Host round-trip
#: latency has a table of its own (:func:`latency_table`): it is the harness's, not the MCU's.
COLUMNS = ("variant", "pct", "cost", "exact", "weight", "return", "early", "per_mac", "energy",
           "op", "blob", "arena", "bits")
#: The column of each budget metric (``--budget``): moved up to follow the first five.
_BUDGET_COLUMN = {"cost": "cost", "energy": "energy", "op_energy": "op",
                  "weight_bytes": "weight", "blob_bytes": "blob"}


def table_columns(report: dict[str, Any]) -> list[str]:
    """The variant table's column keys for this report: :data:`COLUMNS`, with the columns
    of the budget's metrics moved up beside the decisive ones."""
    first = list(COLUMNS[:5])
    for ceiling in parse_budget(report.get("budget")):
        key = _BUDGET_COLUMN.get(ceiling.metric.name)
        if key and key not in first:
            first.append(key)
    return first + [c for c in COLUMNS if c not in first]


def column_title(key: str, cost_unit: str) -> str:
    return {"variant": "variant", "pct": "% of float (95% CI)",
            "cost": f"device cost ({cost_unit})", "exact": "bit-exact", "weight": "weight B",
            "return": "return", "early": "ended early", "per_mac": "per MAC",
            "energy": "energy µJ", "op": "op-level nJ", "blob": "blob B", "arena": "arena B",
            "bits": "bits"}[key]


def table_head(report: dict[str, Any]) -> list[str]:
    """Column titles of the variant table (Markdown and HTML show the same table)."""
    unit = report["target"].get("cost_unit", "")
    return [column_title(k, unit) for k in table_columns(report)]


def percent_cell(v: dict[str, Any]) -> str:
    """% of float with its interval; where it is undefined, the paired return difference."""
    ci = v.get("percent_of_float_interval95")
    if v.get("percent_of_float") is None and v.get("percent_of_float_undefined"):
        diff = v.get("return_difference_vs_float") or {}
        if diff:
            lo, hi = diff["interval95"]
            return f"undefined; Δreturn {diff['mean']:+.3g} ({lo:+.3g} to {hi:+.3g})"
        return "undefined"
    return _fmt(v.get("percent_of_float")) + (f" ({ci[0]:.1f}-{ci[1]:.1f})" if ci else "")


def variant_values(v: dict[str, Any]) -> dict[str, str]:
    """One variant's cells by column key, as plain text, from its report.json entry."""
    cost = v.get("device_cost", {})
    energy = v.get("energy", {})
    device_uj = (energy.get("device") or {}).get("uj")
    op_pj = energy.get("op_level", {}).get("total_pj")
    exact = v.get("bit_exact")
    exact_txt = ("yes" if exact["mismatches"] == 0 else f"NO ({exact['mismatches']})") \
        if exact else ("tol" if "f32_max_abs_error" in v else "-")
    return {"variant": v["name"], "pct": percent_cell(v),
            "cost": _fmt(cost.get("median"), ".0f"), "exact": exact_txt,
            "weight": str(v["sizes"].get("weight_bytes") or "-"),
            "return": f"{v['return']['mean']:.1f} ± {v['return']['std']:.1f}",
            "early": str(v.get("early_terminations", "-")),
            "per_mac": _fmt(cost.get("per_mac"), ".2f"), "energy": _fmt(device_uj, ".3f"),
            "op": _fmt(op_pj / 1e3 if op_pj is not None else None, ".2f"),
            "blob": str(v["sizes"]["blob_bytes"] or "-"),
            "arena": str(v["sizes"].get("arena_bytes") or "-"), "bits": v["bits"]}


def variant_cells(v: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """One variant's row of the table, in :func:`table_columns` order."""
    values = variant_values(v)
    return [values[k] for k in table_columns(report)]


def latency_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Host round trip per step (the harness's link, not the device's time) and the steps
    whose round trip exceeded the env's control period."""
    head = ["variant", "RTT p50 ms", "RTT p99 ms", "RTT max ms", "deadline misses"]
    rows = []
    for v in report["variants"]:
        lat = v.get("latency_ms") or {}
        if not lat:
            continue
        misses = v.get("harness_deadline_misses", v.get("deadline_misses"))
        rows.append([v["name"], _fmt(lat.get("p50"), ".3f"), _fmt(lat.get("p99"), ".3f"),
                     _fmt(lat.get("max"), ".3f"), "-" if misses is None else str(misses)])
    return head, rows


def timing_title(report: dict[str, Any]) -> str:
    t = report.get("timing") or {}
    unit = t.get("delay_unit", "physics steps")
    step = (f" of {t['physics_step_s'] * 1e3:g} ms" if t.get("physics_step_s") else "")
    return (f"Time in the loop (--timing {t.get('mode')}, clock {t.get('clock_hz', 0) / 1e6:g} "
            f"MHz, I/O {t.get('io_latency_us', 0):g} µs): each action lands after the device's "
            f"latency, the previous one held until then; delay in {unit}{step}, rounded up; "
            "a deadline miss is a control tick that passed with no new action:")


def timing_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Each timed variant's latency on the device, the delay it caused, and its misses."""
    if (report.get("timing") or {}).get("mode", "none") == "none":
        return [], []
    head = ["variant", "latency µs (median)", "latency µs (max)", "delay (median)",
            "delay (max)", "deadline misses"]
    rows = []
    for v in report["variants"]:
        t = v.get("timing")
        if t:
            rows.append([v["name"], f"{t['latency_us']['median']:,.1f}",
                         f"{t['latency_us']['max']:,.1f}", f"{t['delay_steps']['median']:g}",
                         str(t["delay_steps"]["max"]), str(v.get("deadline_misses", 0))])
        else:
            rows.append([v["name"], "0 (host, zero latency)", "-", "0", "0", "-"])
    return head, rows


LATENCY_TITLE = ("Control latency, host round trip per step (the harness's link: under "
                 "emulation it says nothing about the MCU's own time):")


def headline(report: dict[str, Any]) -> str:
    """The bit-exactness verdict in one line: every device answer checked, and how many
    differed from the golden executor."""
    checked = mismatches = 0
    for v in report["variants"]:
        exact = v.get("bit_exact")
        if exact:
            checked += int(exact.get("checked_steps", 0))
            mismatches += int(exact.get("mismatches", 0))
    if not checked:
        return "No integer variant ran on the device: nothing was checked bit for bit."
    verdict = "0 mismatches" if mismatches == 0 else f"**{mismatches:,} MISMATCHES**"
    return (f"{checked:,} device answers checked against the golden executor, {verdict}.")


def decision_lines(report: dict[str, Any]) -> list[str]:
    """The report's verdict in plain sentences (``**`` marks the best variant)."""
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
    """The closing facts: task metrics, link health, incidents, firmware memory, energy
    model, arena."""
    lines = []
    metrics = [(v["name"], v["task_metrics"]) for v in report["variants"] if v.get("task_metrics")]
    if metrics:
        lines.append("Task metrics (the env's, RMS over each clean episode, mean of the "
                     "episodes): " + "; ".join(
                         f"{name} " + ", ".join(f"{k} {val:.4g}" for k, val in m.items())
                         for name, m in metrics) + ".")
    link = report["link"]
    over = report["target"].get("link")
    lines.append(f"Link{f' ({over})' if over else ''}: {link['requests']} requests, "
                 f"{link['retries']} retries, "
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
        lines.append(f"Deadline misses: steps whose host round trip took longer than the env's "
                     f"control period ({period * 1e3:.1f} ms).")
    profile = (report.get("energy_model") or {}).get("board_profile")
    if profile:
        lines.append(f"Energy µJ: cost × {profile['mcu']} at {profile['clock_hz'] / 1e6:.0f} MHz, "
                     f"{profile['vdd_v']} V, {profile['run_ua_per_mhz']} µA/MHz "
                     f"(profile {profile['name']}"
                     + ("" if profile["verified"] else ", figure not verified") + "). "
                     "Op-level nJ: Horowitz 45 nm table (qhil.quant.energy).")
    else:
        lines.append("Energy: op-level only (Horowitz 45 nm table); no board profile for this "
                     "target (give one with --board-profile).")
    shares = [(v["name"], v["energy"]["platform"]) for v in report["variants"]
              if (v.get("energy") or {}).get("platform")]
    if shares:
        first = shares[0][1]
        battery = profile.get("battery_mah", 0) if profile else 0
        lines.append(
            f"Flight energy: inference at {1 / period:.0f} Hz against the "
            f"{first['platform_w']:.2f} W the env's plant draws to do its task (its "
            "qhil_platform_power_w): " + "; ".join(
                f"{name} {s['inference_mw']:.3g} mW, {s['percent_of_platform']:.3g} %"
                + (f", {s['battery_minutes_lost'] * 60:.2g} s of the battery's "
                   f"{s['battery_minutes']:.1f} min" if "battery_minutes" in s else "")
                for name, s in shares) + "."
            + (f" Battery: {battery:g} mAh at {profile['battery_v']:g} V."
               if battery and profile else ""))
    estimated = [(v["name"], v["device_cost"]["estimated"]) for v in report["variants"]
                 if (v.get("device_cost") or {}).get("estimated")]
    if estimated:
        first = estimated[0][1]
        parts = []
        for name, e in estimated:
            text = f"{name} ~{e['cycles']:,} from {e['instructions']:,} instructions"
            if e.get("us") is not None:
                text += f", {e['us']:.1f} µs"
            if e.get("us_with_flash") is not None:
                text += f" ({e['us_with_flash']:.1f} µs with {e['flash_wait_states']} flash WS)"
            parts.append(text)
        clock = f" at {first['clock_hz'] / 1e6:g} MHz" if first.get("clock_hz") else ""
        lines.append(f"Estimated cycles per action (one inference traced by QEMU, each "
                     f"instruction weighted by the {first['timings']}'s timing{clock}; an "
                     f"estimate, not a measurement): " + "; ".join(parts) + ".")
    if report["target"].get("weights_in") == "flash":
        lines.append("Models compiled into the firmware's flash image (--weights-in flash): "
                     "nothing is uploaded and weights are read from flash; the kernel's "
                     "per-row data in RAM goes unreported (arena B '-').")
    if any(v["sizes"].get("arena_bytes") for v in report["variants"]):
        widened = (" (weights widened at load: --widen-weights)" if report["target"].get(
            "widen_weights") else " (nothing kept at load: --compact-load)"
            if report["target"].get("compact_load") else "")
        lines.append("Blob B: the blob file's bytes (the device is sent its device image "
                     "on firmware that reads model format 4: no host section or metadata; "
                     "report.json's sizes.device_bytes). "
                     "Arena B: device RAM each model takes: the blob, the kernel's per-row "
                     "requantization records and any weight copy it makes at load" + widened + ".")
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
    weights = ("" if t.get("weights_in", "ram") == "ram" else
               ", models compiled into flash")
    weights += ", weights widened at load" if t.get("widen_weights") else ""
    weights += ", nothing kept at load" if t.get("compact_load") else ""
    tflite = [v["name"] for v in report.get("variants", []) if v.get("arithmetic") == "tflite"]
    reference = (f" ({', '.join(tflite)}: the portable tflite kernel, the one that runs the "
                 "tflite arithmetic)" if tflite else "")
    return (f"{len(report['seeds'])} episodes per variant (seeds {report['seeds'][0]}.."
            f"{report['seeds'][-1]}), board {t.get('board', '-')}{where}, {t.get('cpu', '-')}, "
            f"firmware {t.get('firmware', '-')}, kernel {t.get('kernel', '-')}{reference}"
            f"{weights}; "
            f"qhil {report['qhil']} ({report['git'][:12]}).")


def markdown_summary(report: dict[str, Any]) -> str:
    t = report["target"]
    unit = t.get("cost_unit", "")
    lines = [f"# qhil bench: {report['env_id']} on {t['name']}", "", header_line(report), ""]
    partial = partial_line(report)
    if partial:
        lines += [f"**PARTIAL**: {partial}", ""]
    lines += [headline(report), ""]
    lines += ["| " + " | ".join(table_head(report)) + " |",
              "|" + "---|" * len(table_head(report))]
    lines += ["| " + " | ".join(variant_cells(v, report)) + " |" for v in report["variants"]]
    lines += ["", *decision_lines(report)]
    head, rows = timing_table(report)
    if rows:
        lines += ["", timing_title(report), "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    head, rows = latency_table(report)
    if rows:
        lines += ["", LATENCY_TITLE, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
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
