"""``qhil run``: one inference on a target, for debugging a device or a blob."""

from __future__ import annotations

import argparse
import json

from qhil.cli.base import int_in_range
from qhil.cli.targets_opts import add_target_options, target_settings
from qhil.common.errors import ConfigError

NAMES = ("run",)
HELP = "load a blob on a target and run one inference"
DESCRIPTION = """\
Start the target (or connect to a board), load the blob, run one inference and print the
device's action codes, the golden executor's, whether they match, and the on-device
cost. --obs takes a raw observation (floats; quantized with the blob's input scales).
With --bench N the device repeats the inference N times and reports min/median/max.
With --cycles (QEMU targets of the Cortex-M0, M3, M4, M7, M33 and M55) the same inference is
traced by QEMU and each executed instruction weighted by its core's published timing:
estimated cycles and µs at the board clock beside the instruction count (an estimate:
what it leaves out is in host/qhil/targets/cycles.py and BENCHMARKS.md).

example: qhil run --target qemu-m4 --blob p.qhil --obs 1,0,0.5 --bench 100 --cycles
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    from qhil.link.device import BENCH_MAX_REPEATS

    parser.add_argument("--blob", required=True, help=".qhil model blob")
    parser.add_argument("--obs", required=True, help="comma-separated raw observation")
    parser.add_argument("--bench", type=int_in_range(1, BENCH_MAX_REPEATS), default=0,
                        metavar="N",
                        help=f"also time N repeats on the device, N in 1..{BENCH_MAX_REPEATS} "
                             "(docs/protocol.md; default: off)")
    parser.add_argument("--cycles", action="store_true",
                        help="estimate cycles from a QEMU trace of the inference")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_target_options(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from qhil.api import infer

    try:
        obs = np.array([float(v) for v in args.obs.split(",")])
    except ValueError:
        raise ConfigError(f"--obs '{args.obs}' is not a list of numbers") from None
    # checked before the target starts: a bad observation is the user's, not the device's
    out = infer(args.blob, obs, target_settings(args), repeats=args.bench, cycles=args.cycles)
    integer = out.input.dtype.kind == "i"
    result: dict[str, object] = {"target": out.target, "board": out.board}
    if integer:
        result.update(input_codes=out.input.tolist(), device_codes=out.device_output.tolist(),
                      golden_codes=out.expected.tolist(), bit_exact=out.exact)
    else:
        result.update(device_output=out.device_output.tolist(),
                      f32_within_tolerance=out.exact)
    result.update(action=out.action.tolist(), cost=out.cost, cost_unit=out.cost_unit)
    if out.repeats is not None:
        result["bench"] = out.repeats
    if out.cycles is not None:
        result["cycles"] = out.cycles
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key in ("cycles", "bench", "cost", "cost_unit"):
                continue
            shown = " ".join(map(str, value)) if isinstance(value, list) else value
            print(f"{key:14s} {shown}")
        print(f"{'cost':14s} {_count(out.cost, out.cost_unit)}")
        if out.repeats is not None:
            r = out.repeats
            print(f"{'bench':14s} {int(r['repeats'])} repeats: min {_count(r['min'], out.cost_unit)}, "
                  f"median {_count(r['median'], out.cost_unit)}, max {_count(r['max'], out.cost_unit)}")
        if out.cycles is not None:
            print(_cycles_line(out.cycles))
    return 0 if out.exact else 1


def _count(value: float, unit: str) -> str:
    """A device cost for people: whole instructions and cycles (the counter's conversion
    leaves fractions of a tick), ns as they come."""
    if unit in ("instructions", "cycles"):
        return f"{round(value):,} {unit}"
    return f"{value:,.0f} {unit}"


def _cycles_line(c: dict[str, object]) -> str:
    text = (f"{'cycles':14s} ~{c['cycles']:,} estimated from {c['instructions']:,} traced "
            f"instructions ({c['timings']})")
    if c.get("us") is not None:
        text += f", {c['us']:.1f} µs at {int(c['clock_hz']) / 1e6:g} MHz"  # type: ignore[call-overload]
    if c.get("cycles_with_flash") is not None:
        text += (f"; ~{c['cycles_with_flash']:,} ({c['us_with_flash']:.1f} µs) with "
                 f"{c['flash_wait_states']} flash wait states")
    return text
