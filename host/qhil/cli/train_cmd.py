"""``qhil train``: a float baseline actor with stable-baselines3."""

from __future__ import annotations

import argparse
import json
import logging

from qhil.cli.settings_options import add_settings, settings_from
from qhil.common.errors import ConfigError
from qhil.train.settings import Args

NAMES = ("train",)
HELP = "train a float baseline actor with stable-baselines3"
DESCRIPTION = """\
Train a deterministic ReLU actor with stable-baselines3 (TD3, SAC or PPO) and save it
as a model folder (actor.npz + meta.json). The actor with the best return on validation
seeds (10000..) is kept, then evaluated on the test seeds (100000.., docs/evaluation.md).
Hyperparameters come from per-task presets; --set overrides them. Two --set keys are
qhil's own, for envs that offer the hook: curriculum=true (call the env's
qhil_curriculum(progress) as training goes) and imitate=N (PPO: start the actor as an
N-round DAgger clone of the env's qhil_expert(obs) controller; validation then keeps the
clone unless an RL checkpoint beats it). docs/evaluation.md#the-quadrotor.

example: qhil train --env Pendulum-v1 --algo td3 --steps 20000 -o models/Pendulum-v1
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, Args)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a hyperparameter, value as JSON (repeatable), "
                             "e.g. --set learning_rate=3e-4")


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
    from qhil.common.model_dir import load_model_dir
    from qhil.train.train import train

    out = train(settings_from(Args, args, overrides=_overrides(args.set)))
    ev = load_model_dir(out).meta["eval"]
    LOG.info("saved %s: return %.1f +- %.1f over %d test episodes", out, ev["mean"], ev["std"],
             ev["episodes"])
    return 0
