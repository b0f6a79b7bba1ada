"""A self-contained HTML page for a bench report: the summary.md facts, and SVG plots.

The page says what summary.md says (the same functions of :mod:`qhil.report.markdown` build
both), then shows plots in which each variant keeps one colour. Text in the plots is at
least 11 px at the plots' natural size, and nothing makes the page wider than a 900 px
window: the variant table puts the decisive columns first and scrolls inside its own box
with the variant column pinned.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from qhil.report.markdown import (  # noqa: E402
    ACTION_ERROR_TITLE,
    LATENCY_TITLE,
    action_error_table,
    decision_lines,
    header_line,
    headline,
    latency_table,
    layer_cost_table,
    noise_table,
    note_lines,
    partial_line,
    table_columns,
    table_head,
    timing_table,
    timing_title,
    variant_cells,
)

__all__ = ["write_html", "report_figures"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222;
       padding: 0 1rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: separate; border-spacing: 0; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; min-width: 3.5em; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0; background: #fff;
                                 z-index: 1; }
td.bits { white-space: normal; min-width: 9em; text-align: left; }
.headline { font-size: 1.05rem; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 1rem; }
.plots img { width: 100%; border: 1px solid #eee; }
.bad { color: #b00; font-weight: bold; }
.partial { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5rem; }
.decision { background: #eef6ee; border: 1px solid #9c9; padding: 0.5rem 1rem; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em; }
"""

#: One colour per variant, in report order, for every plot and the table's swatches.
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c", "#ccb974", "#64b5cd")
#: Plot text size: matplotlib's SVG has 72 user units per inch, one per point, so 11 pt is
#: 11 px at the plot's natural size (about the width it gets in a 900 px window).
FONT_PT = 11.0


def colours(report: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: PALETTE[i % len(PALETTE)] for i, v in enumerate(report["variants"])}

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.plot');
  var ok = 0;
  imgs.forEach(function (im) { if (im.complete && im.naturalWidth > 0) ok++; });
  document.body.setAttribute('data-plots-loaded', String(ok));
  document.body.setAttribute('data-page-width', String(document.documentElement.scrollWidth));
  var ends = {};
  document.querySelectorAll('#variants th').forEach(function (th) {
    ends[th.textContent] = Math.round(th.getBoundingClientRect().right);
  });
  document.body.setAttribute('data-header-right', JSON.stringify(ends));
  document.body.setAttribute('data-viewport-width', String(window.innerWidth));
});
"""


def _plain_log_axis(axis: Any) -> None:
    """Log-axis ticks as plain numbers: mathtext exponents are drawn at 70 % size."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def _svg(fig: plt.Figure) -> str:
    """Base64 SVG (text kept as text, so it stays sharp and searchable)."""
    buf = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def report_figures(report: dict[str, Any]) -> dict[str, str]:
    """Base64 SVGs: return per variant, return against device cost, weight bytes and
    energy (each with its Pareto front and the intervals of the means), the host round
    trip, noise robustness; each variant in its colour of :func:`colours`."""
    with plt.rc_context({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 1,
                         "axes.labelsize": FONT_PT, "xtick.labelsize": FONT_PT,
                         "ytick.labelsize": FONT_PT, "legend.fontsize": FONT_PT}):
        return _figures(report)


def _figures(report: dict[str, Any]) -> dict[str, str]:
    variants = report["variants"]
    names = [v["name"] for v in variants]
    colour = colours(report)
    figs: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(6, 3.6))
    means = [v["return"]["mean"] for v in variants]
    # Returns may be negative (Pendulum): % of float tells the bars apart, so plot that
    # when every variant has it, with its interval and the return written on each bar.
    pcts = [v.get("percent_of_float") for v in variants]
    use_pct = all(p is not None for p in pcts)
    heights = pcts if use_pct else means
    if use_pct:
        cis = [v.get("percent_of_float_interval95") or [p, p] for v, p in zip(variants, pcts, strict=True)]
        err = [[max(0.0, h - c[0]) for h, c in zip(heights, cis, strict=True)],
               [max(0.0, c[1] - h) for h, c in zip(heights, cis, strict=True)]]
    else:
        bounds = [_mean_interval(v) for v in variants]
        err = [[m - b[0] for m, b in zip(means, bounds, strict=True)],
               [b[1] - m for m, b in zip(means, bounds, strict=True)]]
    ax.bar(range(len(names)), heights, yerr=err, color=[colour[n] for n in names], capsize=3)
    for i in range(len(variants)):
        ax.annotate(f"{means[i]:.0f}", (i, heights[i]), xytext=(0, 2), textcoords="offset points",
                    ha="center", va="bottom")
    if use_pct:
        ax.axhline(100, color="black", lw=0.8, ls="--")
        top = max([c[1] for c in cis] + [p for p in pcts if p is not None], default=100.0)
        ax.set_ylim(0, max(110.0, min(top, 400.0) + 10))
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("% of float, 95% CI (label: return)" if use_pct else "return (95% CI of mean)")
    ax.set_title("Return per variant (same seeds)")
    figs["Return per variant"] = _svg(fig)

    for title, xlabel, value in _front_axes(report):
        points = [(x, v) for v in variants if (x := value(v)) is not None]
        if len(points) < 2 and title != "Energy vs return":
            continue
        fig, ax = plt.subplots(figsize=(6, 3.6))
        _front_plot(ax, points, colour)
        ax.set_xlabel(xlabel)
        ax.set_title(f"{title} (upper-left is better)")
        figs[title] = _svg(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for v in variants:
        hist = v.get("latency_hist_ms")
        if hist:
            ax.stairs(hist["counts"], hist["edges"], label=v["name"], color=colour[v["name"]])
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.set_xlabel("round trip per step (ms)")
    ax.set_ylabel("steps")
    ax.set_title("Host round trip (the harness's link)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    figs["Latency histogram"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    levels_all = sorted({0.0, *(float(k) for v in variants for k in v.get("noise", {}))})
    span = (levels_all[-1] - levels_all[0]) or 1.0
    for i, v in enumerate(variants):
        # a small sideways offset per variant, markers of their own and the float policy
        # dashed on top: lines that coincide (float and device-f32) stay visible
        dodge = (i - (len(variants) - 1) / 2) * 0.012 * span
        levels = [0.0] + [float(k) for k in v.get("noise", {})]
        rets = [v["return"]["mean"]] + [s["mean"] for s in v.get("noise", {}).values()]
        is_float = v["kind"] == "host-float"
        ax.plot([x + dodge for x in levels], rets, marker=MARKERS[i % len(MARKERS)],
                label=v["name"], color=colour[v["name"]], linestyle="--" if is_float else "-",
                linewidth=2.2 if is_float else 1.4, zorder=3 if is_float else 2, alpha=0.9)
    ax.set_xlabel("observation noise (std / feature scale)")
    ax.set_ylabel("return")
    ax.set_title("Robustness to observation noise")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    figs["Noise robustness"] = _svg(fig)
    return figs


#: One marker per variant (with its colour), so coinciding lines stay apart.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _front_axes(report: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The Pareto plots: return against device cost, weight bytes and energy."""
    unit = report["target"].get("cost_unit", "")
    device = any((v.get("energy") or {}).get("device") for v in report["variants"])
    return [
        ("Return vs device cost", f"device cost per action ({unit})",
         lambda v: (v.get("device_cost") or {}).get("median")),
        ("Return vs weight bytes", "weight bytes",
         lambda v: (v.get("sizes") or {}).get("weight_bytes")),
        ("Energy vs return", "energy per action (µJ, device)" if device else
         "energy per action (µJ, op-level estimate)", lambda v: _energy_uj(v, device)),
    ]


def _mean_interval(v: dict[str, Any]) -> tuple[float, float]:
    """95 % bootstrap interval of a variant's mean return (the draws of the paired
    comparison, docs/evaluation.md)."""
    import numpy as np

    from qhil.common.evaluation import bootstrap_draws

    r = np.asarray(v["return"].get("per_episode") or [v["return"]["mean"]], float)
    means = r[bootstrap_draws(r.size)].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def _front_plot(ax: Any, points: list[tuple[float, dict[str, Any]]],
                colour: dict[str, str]) -> None:
    """Return (with the 95 % interval of each mean) against a lower-is-better axis, and the
    Pareto front. The y axis always holds the intervals, so a difference inside the noise
    never looks like one; the x axis is logarithmic only where the values span a decade."""
    front_in = []
    for x, v in points:
        mean = v["return"]["mean"]
        lo, hi = _mean_interval(v)
        ax.errorbar(x, mean, yerr=[[mean - lo], [hi - mean]], fmt="o", color=colour[v["name"]],
                    capsize=3, markersize=6)
        ax.annotate(v["name"], (x, mean), xytext=(4, 4), textcoords="offset points")
        front_in.append((x, mean, v["name"]))
    front = _pareto(front_in)
    if len(front) > 1:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="#888",
                linestyle="--", linewidth=1, label="Pareto front")
        ax.legend()
    xs = [x for x, _ in points if x > 0]
    if xs and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis)
    ax.set_ylabel("return (95% CI of mean)")


def _energy_uj(v: dict[str, Any], device: bool) -> float | None:
    """A variant's device energy per action, or its op-level estimate, in µJ."""
    energy = v.get("energy") or {}
    if device:
        return float(energy["device"]["uj"]) if energy.get("device") else None
    total = (energy.get("op_level") or {}).get("total_pj")
    return None if total is None else float(total) / 1e6


def _pareto(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Points not beaten on both energy (lower) and return (higher), by energy."""
    front: list[tuple[float, float, str]] = []
    for p in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or p[1] > front[-1][1]:
            front.append(p)
    return front


def _table(report: dict[str, Any]) -> str:
    """The summary.md table, cell for cell; a failed bit-exact check is marked, and each
    variant carries its plot colour. The variant column stays in view when the table
    scrolls; the decisive columns come first (:func:`table_columns`)."""
    keys = table_columns(report)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table_head(report))
    exact = keys.index("exact")
    colour = colours(report)
    rows = []
    for v in report["variants"]:
        cells = [html.escape(c) for c in variant_cells(v, report)]
        cells[0] = f"<span class='swatch' style='background:{colour[v['name']]}'></span>" + cells[0]
        if cells[exact].startswith("NO"):
            cells[exact] = f"<span class='bad'>{cells[exact]}</span>"
        rows.append("<tr>" + "".join(f"<td class='{k}'>{c}</td>" for k, c in zip(keys, cells, strict=True))
                    + "</tr>")
    return f"<div class='scroll'><table id='variants'><tr>{head}</tr>{''.join(rows)}</table></div>"


def _plain_table(head: list[str], rows: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" +
            "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                    for r in rows) + "</table>")


def _inline(text: str) -> str:
    """Escape, then the one Markdown the facts use: **bold**."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def write_html(report: dict[str, Any], path: Path) -> Path:
    figs = report_figures(report)
    t = report["target"]
    title = f"qhil bench: {report['env_id']} on {t['name']}"
    plots = "".join(
        f"<figure><img class='plot' alt='{html.escape(name)}' src='data:image/svg+xml;base64,"
        f"{data}'><figcaption>{html.escape(name)}</figcaption></figure>"
        for name, data in figs.items())
    meta = header_line(report)
    partial = partial_line(report)
    partial_html = (f"<p class='partial'><strong>PARTIAL</strong>: {html.escape(partial)}</p>"
                    if partial else "")
    decision = "".join(f"<p>{_inline(line)}</p>" for line in decision_lines(report))
    sections = ""
    for heading, caption, (head, rows) in (
            ("Time in the loop", timing_title(report), timing_table(report)),
            ("Control latency", LATENCY_TITLE, latency_table(report)),
            ("Robustness to observation noise", "Return; % of the clean float return.",
             noise_table(report)),
            ("On-device cost per layer",
             f"{report['target'].get('cost_unit', '')}, one inference per episode, median.",
             layer_cost_table(report)),
            ("Action error vs float", ACTION_ERROR_TITLE, action_error_table(report))):
        if rows:
            sections += (f"<h2>{heading}</h2><p>{html.escape(caption)}</p>"
                         f"<div class='scroll'>{_plain_table(head, rows)}</div>")
    notes = "".join(f"<p>{_inline(line)}</p>" for line in note_lines(report))
    page = (f"<!doctype html><html><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style><script>{_SCRIPT}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><p class='headline'>{_inline(headline(report))}</p>"
            f"<p>{html.escape(meta)}</p>{partial_html}"
            f"{_table(report)}<div class='decision'>{decision}</div>{sections}{notes}"
            f"<div class='plots'>{plots}</div>"
            f"<p>Schema {html.escape(report['schema'])}; created {html.escape(report['created'])}."
            "</p></body></html>")
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page)
    os.replace(tmp, path)
    return path
