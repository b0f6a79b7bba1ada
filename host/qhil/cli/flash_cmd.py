"""``qhil flash``: build the firmware of a target and upload it to a board."""

from __future__ import annotations

import argparse

NAMES = ("flash",)
HELP = "build a target's firmware (and upload it to a real board)"
DESCRIPTION = """\
Build the PlatformIO environment of a target offline. For real boards also upload it
('pio run -t upload' through openocd, or pyocd with --upload-protocol pyocd); emulated
targets only need the build, which 'qhil run' and 'qhil bench' load themselves.

example: qhil flash --target nucleo-f446re
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="qemu-m4", help="target name (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from qhil.targets import target_info
    from qhil.targets.firmware import build_firmware

    info = target_info(args.target)
    elf = build_firmware(info.pio_env)
    print(f"built {elf}")
    if info.kind == "board":
        build_firmware(info.pio_env, target="upload")
        print(f"uploaded to {info.name}")
    return 0
