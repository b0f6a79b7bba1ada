"""``qhil export-c``: a C header that compiles a blob into firmware."""

from __future__ import annotations

import argparse

from qhil.common.paths import writable_file

NAMES = ("export-c",)
HELP = "write a C header holding a .qhil blob, for firmware with a built-in model"
DESCRIPTION = """\
Validate a blob and write it as a 4-byte aligned C array (<name>_blob, <NAME>_BLOB_LEN):
its device image (docs/model-format.md#device-images: no host section or metadata, which
only the host uses; an odd output table stored as its half), or with --full-blob the whole
file for firmware older than model format 4. The firmware validates a compiled-in blob
exactly like an uploaded one, and runs it from flash where it lies: with --order dsp the
integer weights are laid out for the Cortex-M4/M7 DSP kernel's loops
(docs/model-format.md#layouts), which then read them in place.

example: qhil export-c pendulum_w3.qhil -o firmware/include/model.h --name qhil_model
         qhil export-c p_int8.qhil -o model.h --order dsp
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("blob", help=".qhil file")
    parser.add_argument("-o", "--out", required=True, type=writable_file,
                        help="header file to write")
    parser.add_argument("--name", default="qhil_model", help="C identifier prefix (default: %(default)s)")
    parser.add_argument("--order", default=None, choices=["rows", "dsp"], help=(
        "lay the integer weights out for this kernel (default: as the blob has them; "
        "'dsp': 8-bit layers 4 rows x 4 codes, 4-bit 2 x 8; the model id changes)"))
    parser.add_argument("--full-blob", action="store_true", help=(
        "write the whole blob, host section and metadata included (firmware that reads "
        "model format 1..3 only); default: the device image, smaller"))


def run(args: argparse.Namespace) -> int:
    from qhil.api import export_c

    path = export_c(args.blob, args.out, args.name, args.order, args.full_blob)
    print(f"wrote {path} ({path.stat().st_size:,} bytes of C)")
    return 0
