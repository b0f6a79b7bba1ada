"""``qhil train``: a float baseline actor with stable-baselines3."""

from __future__ import annotations

import argparse
import json
import logging

from qhil.cli.base import int_list, non_negative_int, positive_int
from qhil.common.errors import ConfigError

NAMES = ("train",)
HELP = "train a float baseline actor with stable-baselines3"
DESCRIPTION = """\
Train a deterministic ReLU actor with stable-baselines3 (TD3, SAC or PPO) and save it
as a model folder (actor.npz + meta.json). The actor with the best return on validation
seeds (10000..) is kept, then evaluated on the test seeds (100000.., docs/evaluation.md).
Hyperparameters come from per-task presets; --set overrides them.

example: qhil train --env Pendulum-v1 --algo td3 --steps 20000 -o models/Pendulum-v1
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="Gymnasium environment id, e.g. Pendulum-v1")
    parser.add_argument("--algo", default="td3", help="td3, sac or ppo (default: %(default)s)")
    parser.add_argument("--steps", type=positive_int, default=100_000,
                        help="training environment steps (default: %(default)s)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="training seed, 0..999 (default: %(default)s)")
    parser.add_argument("--net", type=int_list, default=(64, 64),
                        help="actor hidden widths, ReLU (default: 64,64)")
    parser.add_argument("--critic-net", type=int_list, default=None,
                        help="critic hidden widths (default: 256,256; 64,64 for Pendulum)")
    parser.add_argument("--eval-every", type=positive_int, default=10_000,
                        help="steps between validation evaluations (default: %(default)s)")
    parser.add_argument("--eval-episodes", type=positive_int, default=5,
                        help="validation episodes per evaluation (default: %(default)s)")
    parser.add_argument("--test-episodes", type=positive_int, default=100,
                        help="final evaluation episodes on the test seeds (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a hyperparameter, value as JSON (repeatable), "
                             "e.g. --set learning_rate=3e-4")
    parser.add_argument("-o", "--out", default=None, help="model folder (default: models/<env>)")


def _overrides(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qhil.train import Args, train

    targs = Args(env_id=args.env, algo=args.algo, steps=args.steps, seed=args.seed,
                 net=args.net, critic_net=args.critic_net, eval_every=args.eval_every,
                 eval_episodes=args.eval_episodes, test_episodes=args.test_episodes,
                 out=Path(args.out) if args.out else None, overrides=_overrides(args.set))
    out = train(targs)
    from qhil.common.model_dir import load_model_dir

    ev = load_model_dir(out).meta["eval"]
    LOG.info("saved %s: return %.1f +- %.1f over %d test episodes", out, ev["mean"], ev["std"],
             ev["episodes"])
    return 0
