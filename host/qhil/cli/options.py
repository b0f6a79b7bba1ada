"""Option groups shared by several subcommands (defined once, added where needed)."""

from __future__ import annotations

import argparse

from qhil.cli.settings_options import add_settings, settings_from
from qhil.common.settings import width_list
from qhil.quant.pipeline import PTQOptions

__all__ = ["add_ptq_options", "ptq_options", "add_width_options"]


def add_ptq_options(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, PTQOptions, group="calibration")


def ptq_options(args: argparse.Namespace) -> PTQOptions:
    return settings_from(PTQOptions, args)


def add_width_options(parser: argparse.ArgumentParser, verb: str) -> None:
    """The widths a sensitivity profile probes (``qhil sensitivity``, ``qhil autoquant``)."""
    from qhil.autoquant.sensitivity import IN_WIDTHS, WIDTHS

    parser.add_argument("--widths", type=width_list, default=",".join(map(str, WIDTHS)),
                        help=f"weight/activation widths to {verb} (default: %(default)s)")
    parser.add_argument("--in-widths", type=width_list, default=",".join(map(str, IN_WIDTHS)),
                        help=f"input widths to {verb} (default: %(default)s)")
