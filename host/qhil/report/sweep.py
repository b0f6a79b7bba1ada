"""The clock decision as people read it: ``summary.md`` (the table, the device check, the
decision in sentences) and ``clock_sweep.png`` (% of float against clock, one line per
variant), from a sweep's ``sweep.json`` (qhil.harness.clock_sweep)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["write_sweep_report", "sweep_markdown", "decision_sentence"]


def _mhz(hz: float) -> str:
    return f"{hz / 1e6:g} MHz"


def decision_sentence(doc: dict[str, Any]) -> str:
    """The decision in one sentence per variant."""
    t = doc["target"]
    parts = []
    for variant, clock in doc["decision"].items():
        if clock is None:
            parts.append(f"{variant} keeps {doc['threshold_percent']:g} % of float with no "
                         f"miss at none of the clocks swept (up to {_mhz(max(doc['clocks']))})")
        else:
            lower = [c for c in doc["clocks"] if c < clock]
            tail = (f"; at {_mhz(max(lower))} it does not" if lower else
                    " (the lowest clock swept)")
            parts.append(f"{variant} needs {_mhz(clock)}{tail}")
    return (f"On {t.get('name', '?')} ({t.get('cpu', '?')}), {doc['env_id']} with the device's "
            f"latency in the loop: " + "; ".join(parts) + ".")


def sweep_markdown(doc: dict[str, Any]) -> str:
    timing = doc["timing"]
    lines = [f"# Clock sweep: {doc['env_id']} on {doc['target'].get('name', '?')}", "",
             decision_sentence(doc), "",
             f"Search on validation seeds {doc['search']['seeds']} with the host's golden "
             f"executor (the float32 pass for device-f32), each action landing after the "
             f"device's latency at the clock (its {doc['target'].get('cost_unit')} per "
             f"inference measured on the device, cycles per instruction from a trace), "
             f"physics step {doc['physics_step_s'] * 1e3:g} ms (--physics-substeps "
             f"{timing['physics_substeps']}), control period {doc['control_period_s'] * 1e3:g} "
             f"ms, I/O {timing['io_latency_us']:g} µs; % of the float policy's return at zero "
             f"latency on the same seeds and physics. A clock is kept when it and every higher "
             f"one reach {doc['threshold_percent']:g} % with no deadline miss.", "",
             "| variant | clock | latency µs | delay (steps) | % of float (95% CI) | misses | "
             "ended early |", "|---|---|---|---|---|---|---|"]
    for r in doc["search"]["rows"]:
        ci = r["interval95"]
        pct = ("undefined" if r["percent_of_float"] is None else
               f"{r['percent_of_float']:.1f} ({ci[0]:.1f}-{ci[1]:.1f})")
        mark = " **(chosen)**" if doc["decision"].get(r["variant"]) == r["clock_hz"] else ""
        lines.append(f"| {r['variant']} | {_mhz(r['clock_hz'])}{mark} | {r['latency_us']:,.1f} | "
                     f"{r['delay_steps']} | {pct} | {r['misses']} | {r['early_terminations']} |")
    runs = (doc.get("device") or {}).get("runs") or []
    if runs:
        lines += ["", "On the device, test seeds (the chosen clock and the next lower one; "
                      "every answer checked against the golden executor):", "",
                  "| variant | clock | return | % of float (95% CI) | deadline misses | "
                  "ended early | bit-exact | run |", "|---|---|---|---|---|---|---|---|"]
        for r in runs:
            ci = r["interval95"]
            pct = ("undefined" if r["percent_of_float"] is None else
                   f"{r['percent_of_float']:.1f} ({ci[0]:.1f}-{ci[1]:.1f})")
            exact = r.get("bit_exact") or {}
            exact_txt = ("tol" if not exact else "yes" if exact.get("mismatches") == 0 else
                         f"NO ({exact.get('mismatches')})")
            lines.append(f"| {r['variant']} | {_mhz(r['clock_hz'])}"
                         f"{' (chosen)' if r['chosen'] else ''} | {r['mean']:.1f} | {pct} | "
                         f"{r['deadline_misses']} | {r['early_terminations']} | {exact_txt} | "
                         f"{r['folder']} |")
    elif (doc.get("device") or {}).get("skipped"):
        lines += ["", "Not run on the device (--sweep-no-device): the decision is the search's, "
                      "on validation seeds, and unconfirmed on the test seeds."]
    lines.append("")
    return "\n".join(lines)


def sweep_plot(doc: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    variants = list(doc["decision"])
    for i, name in enumerate(variants):
        rows = sorted((r for r in doc["search"]["rows"] if r["variant"] == name),
                      key=lambda r: r["clock_hz"])
        xs = [r["clock_hz"] / 1e6 for r in rows]
        ys = [r["percent_of_float"] if r["percent_of_float"] is not None else float("nan")
              for r in rows]
        lo = [y - (r["interval95"] or [y, y])[0] for y, r in zip(ys, rows, strict=True)]
        hi = [(r["interval95"] or [y, y])[1] - y for y, r in zip(ys, rows, strict=True)]
        line = ax.errorbar(xs, ys, yerr=[lo, hi], marker="os^Dv"[i % 5], capsize=3, label=name)
        missed = [(x, y) for x, y, r in zip(xs, ys, rows, strict=True) if r["misses"]]
        if missed:
            ax.scatter([x for x, _ in missed], [y for _, y in missed], s=90,
                       facecolors="none", edgecolors=line[0].get_color())
        chosen = doc["decision"].get(name)
        if chosen is not None:
            ax.axvline(chosen / 1e6, color=line[0].get_color(), lw=0.8, ls=":")
    ax.axhline(doc["threshold_percent"], color="black", lw=0.8, ls="--",
               label=f"{doc['threshold_percent']:g} % of float")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([c / 1e6 for c in doc["clocks"]])
    ax.set_xlabel("core clock (MHz); circled: deadline misses")
    ax.set_ylabel("% of float (95% CI), validation")
    ax.set_title(f"{doc['env_id']} on {doc['target'].get('name', '?')}: return vs clock")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_sweep_report(doc: dict[str, Any], out: Path) -> None:
    (out / "summary.md").write_text(sweep_markdown(doc))
    sweep_plot(doc, out / "clock_sweep.png")
