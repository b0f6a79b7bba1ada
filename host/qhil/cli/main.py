"""The ``qhil`` command: subcommand dispatch, logging, and errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from types import ModuleType
from typing import NoReturn

from qhil import __version__
from qhil.cli import (
    autoquant_cmd,
    bench_cmd,
    compare_cmd,
    devices_cmd,
    doctor_cmd,
    eval_cmd,
    export_c_cmd,
    export_cmd,
    flash_cmd,
    import_cmd,
    inspect_cmd,
    matrix_cmd,
    qat_cmd,
    quantize_cmd,
    report_cmd,
    run_cmd,
    sensitivity_cmd,
    sweep_bits_cmd,
    train_cmd,
)
from qhil.common.errors import QhilError

__all__ = ["main", "SUBCOMMANDS"]

SUBCOMMANDS: list[ModuleType] = [
    import_cmd, train_cmd, eval_cmd, quantize_cmd, sweep_bits_cmd, inspect_cmd, export_c_cmd,
    export_cmd, devices_cmd,
    doctor_cmd, flash_cmd, run_cmd, bench_cmd, matrix_cmd, report_cmd, compare_cmd, qat_cmd, sensitivity_cmd,
    autoquant_cmd,
]

EPILOG = "Run 'qhil <command> --help' for the options of each command."


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other bad input (exit 2), with where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qhil",
        description="Hardware-in-the-loop testbench for integer-quantized RL policies on "
                    "microcontrollers: train, quantize, run on a device or emulator, compare.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"qhil {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for module in SUBCOMMANDS:
        p = sub.add_parser(module.NAMES[0], aliases=list(module.NAMES[1:]), help=module.HELP,
                           description=module.DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_args(p)
        p.set_defaults(_module=module, _parser=p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args._argv = argv
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    # -v is qhil's debug log; dependencies (matplotlib's font search...) stay at warnings.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("qhil").setLevel(level)
    try:
        return int(args._module.run(args))
    except QhilError as exc:
        print(f"qhil: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head: not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("qhil: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
