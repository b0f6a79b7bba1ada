"""``qhil flash``: build the firmware of a target and put it on the board."""

from __future__ import annotations

import argparse

from qhil.targets.probes import UPLOAD_TOOLS

NAMES = ("flash",)
HELP = "build a target's firmware and upload it to a board"
DESCRIPTION = """\
Build the PlatformIO environment of a target offline, then, for a real board, upload it
with the real tool through 'pio run -t upload':

  openocd      an ST-LINK (or another openocd interface); Debian's 'openocd' (make setup)
  pyocd        a CMSIS-DAP or ST-LINK probe through pyOCD (the qhil[lab] extra; parts that
               are not built into pyOCD need 'pyocd pack install <part>', which downloads)
  blackmagic   a Black Magic probe: its GDB server on --upload-port (/dev/ttyACM0)
  gdb-server   any GDB server with the target attached (--upload-port HOST:PORT), e.g.
               QEMU's -gdb: the image is written and started as a reset does

The default protocol is the board's first (qhil doctor lists them). Everything that can be
checked without a probe is checked before the build: the tool installed, the board's part
known to it, the exact upload command accepted by the tool. With no probe attached the
upload fails in one line that says so ("no ST-LINK found"). Emulated targets only need
the build, which 'qhil run' and 'qhil bench' do themselves, unless --upload-protocol
gdb-server puts the image into an emulator started with its GDB server.

example: qhil flash --target nucleo-f446re
         qhil flash --target nucleo-f446re --upload-protocol pyocd
         qhil flash --target qemu-stm32f4 --upload-protocol gdb-server --upload-port 127.0.0.1:3333
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="qemu-m4", help="target name (default: %(default)s)")
    parser.add_argument("--upload-protocol", choices=sorted(UPLOAD_TOOLS), default=None,
                        help="how the board is programmed (default: its board's first)")
    parser.add_argument("--upload-port", default=None, metavar="PORT",
                        help="a GDB server's HOST:PORT, or a Black Magic probe's serial port")


def run(args: argparse.Namespace) -> int:
    from qhil.api import flash

    print(f"firmware: {flash(args.target, args.upload_protocol, args.upload_port)}")
    return 0
