"""``qhil doctor``: the first checks with a new board, one line each, with a fix."""

from __future__ import annotations

import argparse

from qhil.cli.targets_opts import add_target_options, target_settings

NAMES = ("doctor",)
HELP = "check a target end to end: tools, probe, port, HELLO, firmware, clock, an inference"
DESCRIPTION = """\
The checks to run first with a new board (or any target), in order, one line each; a
failed one says how to fix it:

  upload tool  each upload protocol of the board: its program installed, the board's part
               known to it (pyocd: built in, or its pack installed)
  probe        openocd / pyocd see a debug probe
  port, HELLO  the port opens and the firmware answers HELLO as this target's board
  firmware     its version is the one this checkout builds; its model format the host's
  clock        the counter and clock HELLO reports are the board profile's
  inference    a small random int8 model answers bit-exactly against the golden executor

Exit status 0 when every check passes, 1 when one fails.

example: qhil doctor --target nucleo-f446re --port /dev/ttyACM0
         qhil doctor --target qemu-m4
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)


def run(args: argparse.Namespace) -> int:
    from qhil.harness.doctor import Check, run_checks

    def show(check: Check) -> None:
        print(check.line(), flush=True)

    checks = run_checks(target_settings(args), on_check=show)
    return 0 if all(c.ok for c in checks) else 1
