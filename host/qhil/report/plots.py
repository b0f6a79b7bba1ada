"""Matplotlib figures for sweeps and reports (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["sweep_plot"]


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
