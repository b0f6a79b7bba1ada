"""``qhil matrix``: a benchmark matrix, run here or as jobs on a Ray cluster."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from qhil.cli.settings_options import add_settings, settings_from
from qhil.common.settings import positive_int
from qhil.harness.settings import MatrixSettings

if TYPE_CHECKING:
    from qhil.harness.distribute import RayOptions

NAMES = ("matrix",)
HELP = "a benchmark matrix (models x variants x targets x noise), here or on Ray"
DESCRIPTION = """\
Run one bench per model and target, every variant and blob on each, into one folder:
<out>/<env>-<target>/ (report.json, summary.md, report.html, as qhil bench writes them) and
<out>/matrix.md, matrix.json, matrix.png (return against device cost). Give a YAML file
with the same fields as the options, or the options; options that differ from their
defaults override the file.

With --ray the runs' episodes are cut into jobs (each starts its own target instance) and
run as Ray tasks, on a local cluster or the one at ADDRESS; the reports hold the same
episodes a run here gives. Run the same command again to go on after a stop.

example: qhil matrix matrix.yaml --ray, where matrix.yaml holds
  models: [models/Pendulum-v1, models/Hopper-v5]
  variants: [int8]
  blobs: [qat_w3.qhil]          # taken from each model's folder
  targets: [qemu-m4, qemu-m0]
  episodes: 20
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default=None, help="matrix YAML (optional)")
    add_settings(parser, MatrixSettings)
    add_ray_options(parser)


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("Ray (the qhil[ray] extra)")
    g.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the jobs as Ray tasks: on a local cluster, or the one at ADDRESS "
                        "(ray://host:10001, or host:6379 from a cluster node)")
    g.add_argument("--jobs", type=positive_int, default=None,
                   help="jobs per run (default: one per CPU of the cluster)")
    g.add_argument("--ray-cpus", type=positive_int, default=None,
                   help="CPUs of a local cluster (default: all of this machine's)")


def ray_options(args: argparse.Namespace) -> RayOptions | None:
    if args.ray is None:
        return None
    from qhil.harness.distribute import RayOptions

    return RayOptions(None if args.ray == "local" else args.ray, args.jobs or 0, args.ray_cpus)


def run(args: argparse.Namespace) -> int:
    from qhil.harness.matrix import load_matrix, run_matrix

    given = settings_from(MatrixSettings, args)
    matrix = given
    if args.file:  # the options that differ from their defaults override the file
        default = MatrixSettings()
        changed = {f.name: getattr(given, f.name) for f in dataclasses.fields(MatrixSettings)
                   if getattr(given, f.name) != getattr(default, f.name)}
        matrix = load_matrix(Path(args.file), **changed)
    reports, summary = run_matrix(matrix, ray_options(args))
    print(summary.read_text())
    print(f"matrix: {summary} (and matrix.json, matrix.png; runs in {summary.parent})")
    return 1 if any(r.mismatches for r in reports) else 0
