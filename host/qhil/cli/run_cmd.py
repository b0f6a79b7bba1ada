"""``qhil run``: one inference on a target, for debugging a device or a blob."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qhil.cli.base import int_in_range
from qhil.cli.targets_opts import add_target_options, connect
from qhil.common.errors import ConfigError

NAMES = ("run",)
HELP = "load a blob on a target and run one inference"
DESCRIPTION = """\
Start the target (or connect to a board), load the blob, run one inference and print the
device's action codes, the golden executor's, whether they match, and the on-device
cost. --obs takes a raw observation (floats; quantized with the blob's input scales).
With --bench N the device repeats the inference N times and reports min/median/max.

example: qhil run --target qemu-m4 --blob p.qhil --obs 1,0,0.5 --bench 100
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    from qhil.link.device import BENCH_MAX_REPEATS

    parser.add_argument("--blob", required=True, help=".qhil model blob")
    parser.add_argument("--obs", required=True, help="comma-separated raw observation")
    parser.add_argument("--bench", type=int_in_range(0, BENCH_MAX_REPEATS), default=0,
                        help=f"repeat N times on the device, N in 1..{BENCH_MAX_REPEATS} "
                             "(docs/protocol.md; default: 0, off)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_target_options(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from qhil.quant.blob import read_blob
    from qhil.quant.policy import QuantPolicy, dequantize_action, quantize_obs
    from qhil.quant.qmodel import QuantModel

    data = Path(args.blob).read_bytes() if Path(args.blob).is_file() else None
    if data is None:
        raise ConfigError(f"blob '{args.blob}' does not exist")
    model = read_blob(data, source=args.blob)
    try:
        obs = np.array([float(v) for v in args.obs.split(",")])
    except ValueError:
        raise ConfigError(f"--obs '{args.obs}' is not a list of numbers") from None
    # checked before the target starts: a bad observation is the user's, not the device's
    if len(obs) != model.obs_dim:
        raise ConfigError(f"--obs has {len(obs)} values, the blob expects {model.obs_dim}")
    if not np.all(np.isfinite(obs)):
        raise ConfigError(f"--obs holds NaN/inf at index {int(np.argmin(np.isfinite(obs)))}")
    with connect(args) as target:
        dev = target.device
        dev.load(data)
        result: dict[str, object] = {"target": target.info.name, "board": dev.info.board if dev.info else ""}
        if isinstance(model, QuantModel):
            policy = QuantPolicy(model)
            x = quantize_obs(model, obs)
            got, cost = dev.infer(x)
            expected = policy.executor.action_codes(x)
            result.update(input_codes=x.tolist(), device_codes=got.tolist(),
                          golden_codes=expected.tolist(), bit_exact=bool((got == expected).all()),
                          action=dequantize_action(model, got).tolist())
        else:
            z = model.normalize(obs).astype(np.float32)
            got, cost = dev.infer_f32(z)
            result.update(device_output=got.tolist(), action=model.unsquash(got).tolist())
        assert dev.info is not None
        result["cost"] = dev.info.cost(cost)
        result["cost_unit"] = dev.info.cost_kind
        if args.bench:
            lo, med, hi, _ = dev.bench(x if isinstance(model, QuantModel) else z, args.bench,
                                       float32=not isinstance(model, QuantModel))
            result["bench"] = {"repeats": args.bench, "min": dev.info.cost(lo),
                               "median": dev.info.cost(med), "max": dev.info.cost(hi)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:14s} {value}")
    return 0 if result.get("bit_exact", True) else 1
