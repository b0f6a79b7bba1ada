"""``qhil eval``: return of a float model folder or a quantized blob on fixed seeds."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from qhil.common.errors import ConfigError
from qhil.common.paths import writable_file
from qhil.common.protocol import seed_range_text
from qhil.common.settings import episode_count

if TYPE_CHECKING:
    from qhil.quant.policy import QuantPolicy

NAMES = ("eval",)
HELP = "evaluate a float model or a quantized blob (golden integer executor) on fixed seeds"
DESCRIPTION = """\
Run one deterministic episode per seed and print the return mean +- std and the episodes
that ended early (terminated before the time limit). Float and quantized policies see the
same initial states, so with both --model and --blob the % of float is paired: the ratio
of the mean returns with a 95% bootstrap interval over seeds (docs/evaluation.md).

  --model DIR     the float actor of a model folder (numpy, float64)
  --blob X.qhil   a quantized blob run by the golden integer executor on the host

Seeds: by default the first --episodes seeds of the test split (100000..), where qhil's
own results are reported. --seeds A..B re-measures on any range you choose (say 2000..2099:
seeds no qhil decision or published result used).

example: qhil eval --model models/Pendulum-v1 --blob models/Pendulum-v1/qat_w3.qhil
         qhil eval --model models/Hopper-v5 --blob models/Hopper-v5/qat_w3.qhil --seeds 2000..2099
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model folder (actor.npz + meta.json)")
    parser.add_argument("--blob", default=None, help="quantized .qhil blob")
    parser.add_argument("--env", default=None, help="env id (default: from the model or blob)")
    parser.add_argument("--episodes", type=episode_count, default=100,
                        help="episodes on the test split, when --seeds is not given "
                             "(default: %(default)s)")
    parser.add_argument("--seeds", default=None, metavar="A..B", type=seed_range_text,
                        help="seed range to evaluate on instead, both ends included")
    parser.add_argument("--obs-noise", type=float, default=0.0, metavar="STD",
                        help="Gaussian noise on what the policies see, STD x each feature's "
                             "std from the model (needs --model; the draws qhil bench --noise "
                             "uses; default: 0)")
    parser.add_argument("--json", dest="json_out", default=None, type=writable_file,
                        help="write the result as JSON")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from qhil.common.evaluation import compare_paired, evaluate_policy
    from qhil.common.model_dir import load_model_dir
    from qhil.common.protocol import reported_seeds

    if args.model is None and args.blob is None:
        raise ConfigError("give --model DIR and/or --blob X.qhil")
    if not (args.obs_noise >= 0 and args.obs_noise == args.obs_noise):
        raise ConfigError(f"--obs-noise must be >= 0, got {args.obs_noise}")
    if args.obs_noise and args.model is None:
        raise ConfigError("--obs-noise is relative to the model's observation std: give --model")
    seeds, purpose = reported_seeds(args.seeds, args.episodes)
    model = load_model_dir(args.model) if args.model is not None else None
    qpolicy = _load_blob(args.blob) if args.blob is not None else None
    if model is not None and qpolicy is not None:
        warning = model.blob_warning({"env_id": qpolicy.model.env_id, **qpolicy.model.meta},
                                     args.blob)
        if warning:
            print(f"qhil: warning: {warning}", file=sys.stderr)
    env_id = args.env or (model.env_id if model else None) or (qpolicy.model.env_id
                                                                if qpolicy else None)
    for name, owner in ((args.model, model and model.env_id),
                        (args.blob, qpolicy and qpolicy.model.env_id)):
        if owner and env_id and owner != env_id:
            raise ConfigError(f"{name} is for {owner}, not {env_id}")
    assert env_id is not None
    result: dict[str, object] = {"env_id": env_id, "seeds": str(seeds),
                                 "episodes": len(seeds), "obs_noise": args.obs_noise}
    obs_scale = np.maximum(np.abs(model.actor.obs_std), 1e-6) if model else None

    def bar(desc: str) -> Callable[[Iterable[int]], Iterable[int]]:
        return lambda it: tqdm(it, desc=desc, unit="ep", total=len(seeds), leave=False)

    float_res = None
    if model is not None:
        float_res = evaluate_policy(model.actor, env_id, seeds, purpose, bar("float"),
                                    args.obs_noise, obs_scale)
        result["float"] = float_res.as_dict()
        print(f"float  {env_id}: {float_res.mean:9.2f} +- {float_res.std:7.2f}  "
              f"({len(seeds)} episodes, seeds {seeds}, {float_res.early_terminations} ended early)")
    if qpolicy is not None:
        res = evaluate_policy(qpolicy, env_id, seeds, purpose, bar("golden"),
                              args.obs_noise, obs_scale)
        result["golden"] = res.as_dict()
        print(f"golden {env_id}: {res.mean:9.2f} +- {res.std:7.2f}  "
              f"({len(seeds)} episodes, seeds {seeds}, {res.early_terminations} ended early)")
        if float_res is not None:
            comparison = compare_paired(res, float_res)
            result["comparison"] = comparison.as_dict()
            result["percent_of_float"] = comparison.percent
            print(f"golden vs float: {comparison}")
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)  # the episodes are not lost to a folder
        out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _load_blob(path: str) -> QuantPolicy:
    """The golden policy of a quantized blob; float32 blobs are refused."""
    from qhil.quant.blob import load_blob
    from qhil.quant.policy import QuantPolicy
    from qhil.quant.qmodel import QuantModel

    _, qmodel = load_blob(path)
    if not isinstance(qmodel, QuantModel):
        raise ConfigError(f"{path} is a float32 blob (the on-device float baseline); "
                          "evaluate the float policy with --model, or run it with qhil bench")
    return QuantPolicy(qmodel)
