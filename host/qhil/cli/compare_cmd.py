"""``qhil compare``: side-by-side values of bench reports, with CI gates."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qhil.cli.base import positive_int
from qhil.common.paths import writable_file

NAMES = ("compare",)
HELP = "compare bench reports (base first); exit 1 when a gate fails"
DESCRIPTION = """\
Print each variant's metrics, with units, in every report, and each candidate's change
against the base. The first --base-runs reports are runs of the base (default 1); every
later report is a candidate. --fail-on sets gates; the exit status is 1 when any fails:

  return=-2%        the return may not get worse by more than 2 % (negative returns too)
  cost=+5%          the on-device cost per action may not grow by more than 5 %
  energy=+5%        device energy per action (uJ, needs a board profile); op_energy (pJ)
                    is the op-level estimate; weight_bytes, blob_bytes: sizes
  latency_p99=+10%  round trip, host clock: needs --base-runs 3 or more

Deterministic metrics (return on fixed seeds, cost, energy, sizes) are equal in identical
runs, so their gates are exact. Round-trip latency is timed by the host and moved by up
to +-47 % between identical runs on a loaded machine: a gate on it is refused unless the
base has 3+ runs, and then fails only when a candidate lies outside their spread by more
than the limit. Metrics whose units differ (cost in instructions on QEMU, ns natively) are
shown side by side, without a change, and gating on them is refused. A variant of the
base missing from a candidate fails every gate.

example: qhil compare base/report.json new/report.json --fail-on return=-2%,cost=+5% \\
           --junit gates.xml --json compare.json   # in CI
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="+",
                        help="report.json files: the base run(s) first, then the candidates")
    parser.add_argument("--base-runs", type=positive_int, default=1,
                        help="how many of the first reports are runs of the base "
                             "(default: %(default)s)")
    parser.add_argument("--fail-on", default=None, help="comma-separated gates (default: none)")
    parser.add_argument("--json", dest="json_out", default=None, type=writable_file,
                        help="write rows, units and gate results as JSON to this file")
    parser.add_argument("--junit", default=None, type=writable_file,
                        help="write JUnit XML to this file (one testcase per gate)")
    parser.add_argument("--allow-env-mismatch", action="store_true",
                        help="compare reports of different envs anyway (one warning line; "
                             "refused by default: their returns are not comparable)")


def run(args: argparse.Namespace) -> int:
    from qhil.report.build import load_report
    from qhil.report.compare import compare_reports, env_mismatch, junit_xml, parse_gates, report_labels

    gates = parse_gates(args.fail_on)
    reports = [load_report(Path(p)) for p in args.reports]
    labels = report_labels(len(reports), args.base_runs)
    comparison = compare_reports(reports, gates, args.base_runs, labels,
                                 allow_env_mismatch=args.allow_env_mismatch)
    mismatch = env_mismatch(reports, labels)
    if mismatch:
        print(f"qhil: warning: {mismatch} (--allow-env-mismatch)", file=sys.stderr)
    width = max(len(h) for h in labels)
    for h, p in zip(labels, args.reports, strict=True):
        print(f"{h:>{width}s}: {p}")
    cand = labels[args.base_runs:]
    print(f"{'variant':14s} {'metric':26s} " + " ".join(f"{h:>12s}" for h in labels) +
          "  " + " ".join(f"{'Δ ' + h:>12s}" for h in cand))
    for r in comparison.rows:
        unit = r.metric.unit_in(reports[0])
        metric = f"{r.metric.name} [{unit}]"
        vals = " ".join("{:>12s}".format(
            "-" if v is None else f"{v:.4g}" + (f" {u}" if r.units_differ else ""))
            for v, u in zip(r.values, r.units, strict=True))
        deltas = " ".join("{:>12s}".format(
            "units differ" if r.units_differ and v is not None else "-" if c is None
            else f"{c:+.1f}%") for c, v in zip(r.changes[args.base_runs:],
                                               r.values[args.base_runs:], strict=True))
        print(f"{r.variant:14s} {metric:26s} {vals}  {deltas}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"reports": args.reports} | comparison.as_dict(), indent=2) + "\n")
    if args.junit:
        Path(args.junit).write_text(junit_xml(comparison))
    for gate in gates:
        messages = comparison.failures[str(gate)]
        print(f"gate {gate}: " + ("FAILED" if messages else "passed"))
        for m in messages:
            print(f"  REGRESSION {m}")
    return 1 if comparison.failed else 0
