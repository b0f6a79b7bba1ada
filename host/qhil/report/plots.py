"""Matplotlib figures for sweeps and reports (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["sweep_plot", "sensitivity_heatmap", "pareto_plot", "scatter_points"]


def sweep_plot(rows: list[dict[str, Any]], title: str, out: Path) -> None:
    """Bar chart of % of float per bit setting, with the weight bytes annotated."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(rows)), 4.0))
    labels = [str(r["setting"]) for r in rows]
    values = [float(r["percent_of_float"]) for r in rows]
    colors = ["#4c72b0" if v >= 95 else "#dd8452" if v >= 50 else "#c44e52" for v in values]
    ax.bar(range(len(rows)), values, color=colors)
    ax.axhline(100, color="black", lw=0.8, ls="--")
    ax.axhline(95, color="gray", lw=0.6, ls=":")
    for i, r in enumerate(rows):
        ax.text(i, max(values[i], 0) + 2, f"{r['weight_bytes']}B", ha="center", fontsize=7)
    ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("% of float return")
    ax.set_ylim(min(0.0, min(values) - 5), max(110.0, max(values) + 10))
    ax.set_title(f"{title}: post-training quantization")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def sensitivity_heatmap(rows: list[dict[str, Any]], title: str, out: Path) -> None:
    """Parts x widths, coloured by % of float when only that part is quantized."""
    import numpy as np

    parts = list(dict.fromkeys(r["part"] for r in rows))
    widths = sorted({int(r["bits"]) for r in rows}, reverse=True)
    grid = np.full((len(parts), len(widths)), np.nan)
    for r in rows:
        grid[parts.index(r["part"]), widths.index(int(r["bits"]))] = r["percent_of_float"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(widths), 0.8 + 0.42 * len(parts)))
    image = ax.imshow(np.clip(grid, 0, 100), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for i in range(len(parts)):
        for j in range(len(widths)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(widths)), [str(w) for w in widths])
    ax.set_yticks(range(len(parts)), parts)
    ax.set_xlabel("bits (only this part quantized; the rest 8-bit, inputs 16-bit)")
    ax.set_title(f"{title}: % of float return")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def pareto_plot(points: list[dict[str, Any]], front: list[str], title: str, out: Path) -> None:
    """% of float against weight bytes, op-level energy and (if measured) device cost."""
    axes_keys = [("weight_bytes", "weight bytes"), ("energy_pj", "op-level energy (pJ)")]
    if any(p.get("device_cost") for p in points):
        axes_keys.append(("device_cost", "device cost per action"))
    fig, axes = plt.subplots(1, len(axes_keys), figsize=(4.2 * len(axes_keys), 3.6),
                             squeeze=False)
    for ax, (key, label) in zip(axes[0], axes_keys, strict=True):
        for p in points:
            if p.get(key) is None or p.get("percent_of_float") is None:
                continue
            on_front = p["name"] in front
            ax.scatter(p[key], p["percent_of_float"], s=45 if on_front else 25,
                       color="#c44e52" if on_front else "#4c72b0")
            ax.annotate(p["name"], (p[key], p["percent_of_float"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.axhline(95, color="gray", lw=0.6, ls=":")
        ax.set_xlabel(label)
        ax.set_ylabel("% of float (test seeds)")
    fig.suptitle(f"{title}: candidates (red: Pareto front)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def scatter_points(points: list[tuple[float, float, str]], xlabel: str, ylabel: str,
                   title: str, out: Path) -> None:
    """Labelled points on a log x axis (costs span orders of magnitude across cores)."""
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for x, y, label in points:
        ax.scatter([x], [y], s=24)
        ax.annotate(label, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.axhline(100, color="black", lw=0.8, ls="--")
    if points:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
