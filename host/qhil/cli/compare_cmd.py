"""``qhil compare``: side-by-side deltas of bench reports, with CI gates."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAMES = ("compare",)
HELP = "compare two or more bench reports; non-zero exit on a regression"
DESCRIPTION = """\
Print each variant's return, % of float, latency and device cost in every report, with
the change against the first report. --fail-on sets gates; the exit status is 1 when
any is violated, so CI can gate on it:

  return=-2%        return may not get worse by more than 2 % (lower-is-worse sense)
  latency_p99=+10%  p99 round trip may not grow by more than 10 %
  cost=+5%          on-device cost may not grow by more than 5 % (energy=+5% is the same)

example: qhil compare base/report.json new/report.json --fail-on return=-2%,latency_p99=+10%
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="+", help="report.json files (the first is the base)")
    parser.add_argument("--fail-on", default=None, help="comma-separated gates (default: none)")
    parser.add_argument("--json", dest="json_out", default=None, help="write the rows as JSON")


def run(args: argparse.Namespace) -> int:
    from qhil.bench.compare import compare_reports, parse_gates
    from qhil.bench.report import load_report

    gates = parse_gates(args.fail_on)
    reports = [load_report(Path(p)) for p in args.reports]
    rows, failures = compare_reports(reports, gates)
    heads = [f"#{i + 1}" for i in range(len(reports))]
    print("base #1: " + "  ".join(f"#{i + 1} {p}" for i, p in enumerate(args.reports)))
    print(f"{'variant':14s} {'metric':16s} " + " ".join(f"{h:>12s}" for h in heads) +
          "  " + " ".join(f"{'Δ' + h:>9s}" for h in heads[1:]))
    for r in rows:
        vals = " ".join("{:>12s}".format("-" if v is None else f"{v:.4g}") for v in r["values"])
        deltas = " ".join("{:>9s}".format("-" if c is None else f"{c:+.1f}%")
                          for c in r["changes"][1:])
        print(f"{r['variant']:14s} {r['metric']:16s} {vals}  {deltas}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"rows": rows, "failures": failures},
                                                  indent=2) + "\n")
    for f in failures:
        print(f"REGRESSION {f}")
    return 1 if failures else 0
