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
                   help="where the device is: a board's serial port (/dev/ttyACM0, see "
                        "'qhil devices') or, for any target, a pyserial URL "
                        "(rfc2217://lab-pc:2000, socket://host:port) whose firmware then runs "
                        "there; the device's HELLO must name the target's board")
    g.add_argument("--allow-mismatch", action="store_true",
                   help="run even when the device at --port says it is another board")
    g.add_argument("--no-build", action="store_true",
                   help="use the firmware already built instead of running 'pio run' first")
    g.add_argument("--timeout", type=float, default=2.0,
                   help="seconds to wait for each device answer (default: %(default)s)")


def connect(args: argparse.Namespace, faults: LinkFaults | None = None) -> RunningTarget:
    return start_target(args.target, port=args.port, build=not args.no_build,
                        timeout=args.timeout, faults=faults,
                        allow_mismatch=args.allow_mismatch)
