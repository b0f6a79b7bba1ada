"""Option groups shared by several subcommands (defined once, added where needed)."""

from __future__ import annotations

import argparse

from qhil.cli.base import int_list, positive_int
from qhil.quant.pipeline import PTQOptions

__all__ = ["add_ptq_options", "ptq_options", "add_width_options", "width_list"]


def add_ptq_options(parser: argparse.ArgumentParser) -> None:
    d = PTQOptions()
    g = parser.add_argument_group("calibration")
    g.add_argument("--calib-episodes", type=positive_int, default=d.calib_episodes,
                   help="noisy float-policy rollouts for calibration, seeds 20000.. "
                        "(default: %(default)s)")
    g.add_argument("--input-range", choices=["minmax", "percentile"], default=d.input_range,
                   help="per-feature input range (default: %(default)s)")
    g.add_argument("--act-range", choices=["minmax", "percentile", "mse"], default=d.act_range,
                   help="activation range; percentile is 99.99 and switches to mse for "
                        "widths <= 4 bits (default: %(default)s)")
    g.add_argument("--weights", choices=["mse", "minmax"], default=d.weights,
                   help="per-channel weight clipping (default: %(default)s)")
    g.add_argument("--input-scale", choices=["feature", "tensor"], default=d.input_scale,
                   help="one input step per observation feature, or one for all "
                        "(default: %(default)s)")


def ptq_options(args: argparse.Namespace) -> PTQOptions:
    return PTQOptions(args.calib_episodes, args.input_range, args.act_range, args.weights,
                      args.input_scale)


def width_list(text: str) -> tuple[int, ...]:
    """``2,3,8`` -> ``(8, 3, 2)``: distinct bit widths, widest first."""
    return tuple(sorted(set(int_list(text)), reverse=True))


def add_width_options(parser: argparse.ArgumentParser, verb: str) -> None:
    """The widths a sensitivity profile probes (``qhil sensitivity``, ``qhil autoquant``)."""
    parser.add_argument("--widths", type=width_list, default="2,3,4,6,8",
                        help=f"weight/activation widths to {verb} (default: %(default)s)")
    parser.add_argument("--in-widths", type=width_list, default="4,6,8,10,12,16",
                        help=f"input widths to {verb} (default: %(default)s)")
