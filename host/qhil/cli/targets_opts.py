"""The target/port options shared by device commands, and the connect helper."""

from __future__ import annotations

import argparse

from qhil.link.faults import LinkFaults
from qhil.targets import TARGETS, RunningTarget, start_target

__all__ = ["add_target_options", "connect"]


def add_target_options(parser: argparse.ArgumentParser, default: str = "qemu-m4") -> None:
    g = parser.add_argument_group("target")
    g.add_argument("--target", default=default,
                   help=f"where the firmware runs: {', '.join(TARGETS)} (default: %(default)s)")
    g.add_argument("--port", default=None,
                   help="serial port of a real board, e.g. /dev/ttyACM0 (see 'qhil devices')")
    g.add_argument("--no-build", action="store_true",
                   help="use the firmware already built instead of running 'pio run' first")
    g.add_argument("--timeout", type=float, default=2.0,
                   help="seconds to wait for each device answer (default: %(default)s)")


def connect(args: argparse.Namespace, faults: LinkFaults | None = None) -> RunningTarget:
    return start_target(args.target, port=args.port, build=not args.no_build,
                        timeout=args.timeout, faults=faults)
