"""``qhil eval``: return of a float model folder or a quantized blob on fixed seeds."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from tqdm import tqdm

from qhil.cli.base import non_negative_int, positive_int
from qhil.common.errors import ConfigError

NAMES = ("eval",)
HELP = "evaluate a float model or a quantized blob (golden integer executor) on fixed seeds"
DESCRIPTION = """\
Run deterministic episodes and print the return mean +- std. Episode i resets the env
with seed SEED+i, so float and quantized policies see the same initial states.

  --model DIR     the float actor of a model folder (numpy, float64)
  --blob X.qhil   a quantized blob run by the golden integer executor on the host;
                  with --model too, the %% of float is printed

example: qhil eval --model models/Pendulum-v1 --episodes 20
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model folder (actor.npz + meta.json)")
    parser.add_argument("--blob", default=None, help="quantized .qhil blob")
    parser.add_argument("--env", default=None, help="env id (default: from the model or blob)")
    parser.add_argument("--episodes", type=positive_int, default=20,
                        help="episodes (default: %(default)s)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="base seed; episode i uses SEED+i (default: %(default)s)")
    parser.add_argument("--json", dest="json_out", default=None, help="write the result as JSON")


def run(args: argparse.Namespace) -> int:
    from qhil.common.evaluation import evaluate_policy, percent_of_float
    from qhil.common.model_dir import load_model_dir

    if args.model is None and args.blob is None:
        raise ConfigError("give --model DIR and/or --blob X.qhil")
    result: dict[str, object] = {"seed": args.seed, "episodes": args.episodes}
    float_mean = None
    env_id = args.env
    if args.model is not None:
        model = load_model_dir(args.model)
        env_id = env_id or model.env_id
        res = evaluate_policy(model.actor.act, env_id, args.episodes, args.seed,
                              progress=lambda it: tqdm(it, desc="float", unit="ep",
                                                       total=args.episodes, leave=False))
        float_mean = res.mean
        result["float"] = res.as_dict()
        print(f"float  {env_id}: {res.mean:9.2f} +- {res.std:7.2f}  ({args.episodes} episodes)")
    if args.blob is not None:
        from qhil.quant.blob import read_blob
        from qhil.quant.policy import QuantPolicy
        from qhil.quant.qmodel import QuantModel

        if not Path(args.blob).is_file():
            raise ConfigError(f"blob '{args.blob}' does not exist")
        qmodel = read_blob(Path(args.blob).read_bytes(), source=args.blob)
        if not isinstance(qmodel, QuantModel):
            raise ConfigError(f"{args.blob} is a float32 blob (the on-device float baseline); "
                              "evaluate the float policy with --model, or run it with qhil bench")
        env_id = env_id or qmodel.env_id
        policy = QuantPolicy(qmodel)
        res = evaluate_policy(policy.act, env_id, args.episodes, args.seed,
                              progress=lambda it: tqdm(it, desc="golden", unit="ep",
                                                       total=args.episodes, leave=False))
        result["golden"] = res.as_dict()
        line = f"golden {env_id}: {res.mean:9.2f} +- {res.std:7.2f}  ({args.episodes} episodes)"
        if float_mean is not None:
            pct = percent_of_float(res.mean, float_mean)
            result["percent_of_float"] = pct
            line += f"  {pct:.1f}% of float"
        print(line)
    result["env_id"] = env_id
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0
