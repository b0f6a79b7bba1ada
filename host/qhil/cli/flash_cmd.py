"""``qhil flash``: build the firmware of a target and upload it to a board."""

from __future__ import annotations

import argparse
import shutil

from qhil.common.errors import ConfigError

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

#: upload protocol -> (program on PATH, how to get it)
UPLOADERS = {"openocd": ("openocd", "sudo apt-get install openocd (or make setup)"),
             "pyocd": ("pyocd", ".venv/bin/pip install pyocd")}


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="qemu-m4", help="target name (default: %(default)s)")
    parser.add_argument("--upload-protocol", choices=sorted(UPLOADERS), default="openocd",
                        help="how a board is programmed (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from qhil.common.errors import QhilError
    from qhil.targets import TargetKind, target_info
    from qhil.targets.firmware import build_firmware

    info = target_info(args.target)
    upload = info.kind is TargetKind.BOARD
    if upload:
        program, how = UPLOADERS[args.upload_protocol]
        if shutil.which(program) is None:
            raise ConfigError(f"cannot upload to {info.name}: {program} is not installed "
                              f"({how})")
    print(f"building {info.pio_env} ...", flush=True)
    elf = build_firmware(info.pio_env)
    print(f"built {elf}")
    if upload:
        print(f"uploading to {info.name} through {args.upload_protocol} ...", flush=True)
        try:
            build_firmware(info.pio_env, target="upload",
                           options=[f"upload_protocol={args.upload_protocol}"])
        except QhilError as exc:
            raise QhilError(f"upload to {info.name} through {args.upload_protocol} failed "
                            f"(the build succeeded): {exc}") from None
        print(f"uploaded to {info.name}")
    return 0
