"""A benchmark matrix's summary: one row per (model, target, variant) from the runs' reports,
as Markdown, JSON and a plot of return against device cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["matrix_rows", "matrix_markdown", "matrix_plot"]


def matrix_rows(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for rep in reports:
        for v in rep["variants"]:
            exact = v.get("bit_exact")
            rows.append({
                "env_id": rep["env_id"], "target": rep["target"].get("name"),
                "variant": v["name"], "bits": v["bits"], "return": v["return"]["mean"],
                "percent_of_float": v.get("percent_of_float"),
                "interval95": v.get("percent_of_float_interval95"),
                "early_terminations": v.get("early_terminations"),
                "cost": v.get("device_cost", {}).get("median"),
                "cost_unit": rep["target"].get("cost_unit"),
                "weight_bytes": v["sizes"]["weight_bytes"],
                "checked_steps": exact["checked_steps"] if exact else None,
                "mismatches": exact["mismatches"] if exact else None,
                "complete": rep.get("complete", True)})
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def matrix_markdown(rows: list[dict[str, Any]], title: str) -> str:
    lines = [f"# {title}", "",
             "| env | target | variant | bits | return | % of float (95% CI) | ended early | "
             "device cost | weight B | bit-exact |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = r["interval95"]
        pct = _fmt(r["percent_of_float"], ".1f") + (f" ({ci[0]:.1f}-{ci[1]:.1f})" if ci else "")
        cost = "-" if r["cost"] is None else f"{r['cost']:.0f} {r['cost_unit']}"
        exact = "-" if r["mismatches"] is None else (
            f"yes ({r['checked_steps']} steps)" if r["mismatches"] == 0 else
            f"NO ({r['mismatches']})")
        lines.append(f"| {r['env_id']} | {r['target']} | {r['variant']} | {r['bits']} | "
                     f"{r['return']:.1f} | {pct} | {_fmt(r['early_terminations'], 'd')} | "
                     f"{cost} | {r['weight_bytes']} | {exact} |")
    if not all(r["complete"] for r in rows):
        lines += ["", "PARTIAL: some runs are not finished; run the matrix again to go on."]
    return "\n".join(lines) + "\n"


def matrix_plot(rows: list[dict[str, Any]], title: str, out: Path) -> None:
    """% of float against device cost, one marker per (env, target, variant)."""
    from qhil.report.plots import scatter_points

    points = [(r["cost"], r["percent_of_float"], f"{r['env_id']} {r['target']} {r['variant']}")
              for r in rows if r["cost"] is not None and r["percent_of_float"] is not None]
    scatter_points(points, "device cost per action", "% of float return", title, out)
