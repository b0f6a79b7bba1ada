"""A self-contained HTML page for a bench report: tables and embedded PNG plots."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from qhil.bench.report import markdown_summary, table_head, variant_cells  # noqa: E402

__all__ = ["write_html", "report_figures"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.plots { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.plots img { width: 100%; border: 1px solid #eee; }
.bad { color: #b00; font-weight: bold; }
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.plot');
  var ok = 0;
  imgs.forEach(function (im) { if (im.complete && im.naturalWidth > 0) ok++; });
  document.body.setAttribute('data-plots-loaded', String(ok));
});
"""


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def report_figures(report: dict[str, Any]) -> dict[str, str]:
    """Base64 PNGs: return per variant, latency histogram, energy vs return (with its
    Pareto front), noise robustness."""
    variants = report["variants"]
    names = [v["name"] for v in variants]
    figs: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(6, 3.6))
    means = [v["return"]["mean"] for v in variants]
    stds = [v["return"]["std"] for v in variants]
    ax.bar(range(len(names)), means, yerr=stds, color="#4c72b0", capsize=3)
    for i, v in enumerate(variants):
        pct = v.get("percent_of_float")
        if pct is not None:
            ax.annotate(f"{pct:.0f}%", (i, means[i]), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)), [f"{v['name']}\n{v['bits'][:18]}" for v in variants],
                  fontsize=7)
    ax.set_ylabel("return (mean ± std)")
    ax.set_title("Return per variant (same seeds)")
    figs["Return per variant"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for v in variants:
        hist = v.get("latency_hist_ms")
        if hist:
            ax.stairs(hist["counts"], hist["edges"], label=v["name"])
    ax.set_xscale("log")
    ax.set_xlabel("round trip per step (ms)")
    ax.set_ylabel("steps")
    ax.set_title("Control latency (host round trip)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    figs["Latency histogram"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    # one kind of estimate per plot: device energy where the target has a board profile
    device = any((v.get("energy") or {}).get("device") for v in variants)
    points = [(e, v["return"]["mean"], v["name"]) for v in variants
              if (e := _energy_uj(v, device)) is not None]
    for e, r, n in points:
        ax.scatter(e, r, s=40)
        ax.annotate(n, (e, r), fontsize=7, xytext=(4, 4), textcoords="offset points")
    front = _pareto(points)
    if len(front) > 1:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="#888",
                linestyle="--", linewidth=1, label="Pareto front")
        ax.legend(fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("energy per action (µJ, device)" if device else
                  "energy per action (µJ, op-level estimate)")
    ax.set_ylabel("return")
    ax.set_title("Energy vs return (upper-left is better)")
    figs["Energy vs return"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for v in variants:
        levels = [0.0] + [float(k) for k in v.get("noise", {})]
        rets = [v["return"]["mean"]] + [s["mean"] for s in v.get("noise", {}).values()]
        ax.plot(levels, rets, marker="o", label=v["name"])
    ax.set_xlabel("observation noise (std / feature scale)")
    ax.set_ylabel("return")
    ax.set_title("Robustness to observation noise")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    figs["Noise robustness"] = _png(fig)
    return figs


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
    """The summary.md table, cell for cell; a failed bit-exact check is marked."""
    titles = table_head(report["target"].get("cost_unit", ""))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in titles)
    exact = titles.index("bit-exact")
    rows = []
    for v in report["variants"]:
        cells = [html.escape(c) for c in variant_cells(v)]
        if cells[exact].startswith("NO"):
            cells[exact] = f"<span class='bad'>{cells[exact]}</span>"
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_html(report: dict[str, Any], path: Path) -> Path:
    figs = report_figures(report)
    t = report["target"]
    title = f"qhil bench: {report['env_id']} on {t['name']}"
    plots = "".join(
        f"<figure><img class='plot' alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(name)}</figcaption></figure>" for name, data in figs.items())
    summary = markdown_summary(report).splitlines()
    meta = html.escape(summary[2])
    # the summary's closing lines: link health, device incidents, how energy was estimated
    notes = "".join(f"<p>{html.escape(line)}</p>" for line in summary
                    if line.startswith(("Link:", "Incidents:", "Energy", "**PARTIAL**")))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style><script>{_SCRIPT}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{meta}</p>{_table(report)}{notes}"
            f"<div class='plots'>{plots}</div>"
            f"<p>Schema {html.escape(report['schema'])}; created {html.escape(report['created'])}."
            "</p></body></html>")
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page)
    os.replace(tmp, path)
    return path
