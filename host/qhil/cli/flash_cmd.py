"""``qhil flash``: build the firmware of a target and upload it to a board."""

from __future__ import annotations

import argparse

from qhil.targets.firmware import UPLOADERS

NAMES = ("flash",)
HELP = "build a target's firmware (and upload it to a real board)"
DESCRIPTION = """\
Build the PlatformIO environment of a target offline. For real boards, then upload it
through openocd (default; Debian package 'openocd', which 'make setup' installs) or pyocd
(--upload-protocol pyocd; '.venv/bin/pip install pyocd'). The upload tool is checked
before anything is built; a failed build and a failed upload say which of the two failed.
Emulated targets only need the build, which 'qhil run' and 'qhil bench' load themselves.

example: qhil flash --target nucleo-f446re --upload-protocol pyocd
"""

def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="qemu-m4", help="target name (default: %(default)s)")
    parser.add_argument("--upload-protocol", choices=sorted(UPLOADERS), default="openocd",
                        help="how a board is programmed (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from qhil.targets.firmware import flash

    print(f"firmware: {flash(args.target, args.upload_protocol)}")
    return 0
