"""``qhil report``: re-render a bench report (Markdown and HTML) from its JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from qhil.common.paths import writable_dir

NAMES = ("report",)
HELP = "re-render a bench report.json as Markdown and a self-contained HTML page"
DESCRIPTION = """\
Read a report.json (schema qhil-report/1) and write summary.md and report.html next to
it (or into --out): the variant table, the best variant under the budget (--budget, or
the run's) and the Pareto fronts of return against device cost, energy and weight bytes,
noise robustness, and plots of return per variant, latency, energy vs return and noise,
embedded (SVG) so the page works offline.

example: qhil report reports/Pendulum-v1-qemu-m4/report.json
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", help="report.json")
    parser.add_argument("--out", default=None, type=writable_dir,
                        help="folder to write into (default: beside it)")
    parser.add_argument("--budget", default=None, metavar="METRIC=N,...",
                        help="decide under these ceilings instead of the run's own "
                             "(e.g. weight_bytes=2000,cost=30000)")


def run(args: argparse.Namespace) -> int:
    from qhil.report.build import load_report
    from qhil.report.html import write_html
    from qhil.report.markdown import markdown_summary

    path = Path(args.report)
    report = load_report(path)
    if args.budget is not None:
        from qhil.report.decide import parse_budget

        parse_budget(args.budget)
        report["budget"] = args.budget
    out = Path(args.out) if args.out else path.parent
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(markdown_summary(report))
    html = write_html(report, out / "report.html")
    print(markdown_summary(report))
    print(f"wrote {out / 'summary.md'} and {html}")
    return 0
