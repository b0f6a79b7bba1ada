"""``qhil export-c``: a C header that compiles a blob into firmware."""

from __future__ import annotations

import argparse
from pathlib import Path

NAMES = ("export-c",)
HELP = "write a C header holding a .qhil blob, for firmware with a built-in model"
DESCRIPTION = """\
Validate a blob and write it as a 4-byte aligned C array (<name>_blob, <NAME>_BLOB_LEN).
The firmware validates a compiled-in blob exactly like an uploaded one.

example: qhil export-c pendulum_w3.qhil -o firmware/include/model.h --name qhil_model
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("blob", help=".qhil file")
    parser.add_argument("-o", "--out", required=True, help="header file to write")
    parser.add_argument("--name", default="qhil_model", help="C identifier prefix (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from qhil.common.errors import ConfigError
    from qhil.quant.blob import load_blob
    from qhil.quant.cheader import blob_to_c_header

    path = Path(args.blob)
    data, _ = load_blob(path)  # a malformed blob is refused here, not compiled in
    try:
        text = blob_to_c_header(data, args.name, source=path.name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    Path(args.out).write_text(text)
    print(f"wrote {args.out} ({len(data)} bytes of model)")
    return 0
