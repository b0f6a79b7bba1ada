"""QAT mode (b): RL fine-tuning of the fake-quant actor with stable-baselines3's TD3.

The actor TD3 trains *is* the :class:`~qhil.quant.fakequant.FakeQuantActor`: its forward
pass rounds where the device rounds, so the return TD3 optimizes is the quantized
policy's own. The critic is new (the shipped models keep only their actors), so it learns
alone first (``critic_warmup`` steps, actor frozen), then both learn. The actor starts
from wherever the caller left it - after DAgger distillation, normally - and exports are
kept only when their validation return improves on the best so far.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import NormalActionNoise

from qhil.common.envs import make_env
from qhil.common.model_dir import ModelDir
from qhil.quant.fakequant import FakeQuantActor
from qhil.train.settings import RLArgs

__all__ = ["RLArgs", "rl_finetune"]

LOG = logging.getLogger(__name__)


class _TD3(TD3):
    """TD3 with its own actor learning rate (SB3 sets one rate on both optimizers)."""

    actor_learning_rate = 1e-5

    def _update_learning_rate(self, optimizers: Any) -> None:
        super()._update_learning_rate(optimizers)
        for group in self.actor.optimizer.param_groups:
            group["lr"] = self.actor_learning_rate


class _Validate(BaseCallback):
    def __init__(self, every: int, on_eval: Callable[[int], None]) -> None:
        super().__init__()
        self.every = every
        self.on_eval = on_eval

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            self.on_eval(self.num_timesteps)
        return True


def rl_finetune(model: ModelDir, student: FakeQuantActor, args: RLArgs,
                on_eval: Callable[[int], None]) -> None:
    """Fine-tune ``student`` in place with TD3; ``on_eval(step)`` validates and keeps the best.

    :param student: a float32 fake-quant actor (its parameters are trained)
    """
    hp = model.meta.get("train", {}).get("hyperparameters", {})
    critic = list(hp.get("critic_net", [256, 256]))
    env = make_env(model.env_id)
    n_act = int(np.prod(env.action_space.shape or (1,)))
    td3 = _TD3("MlpPolicy", env, learning_rate=args.learning_rate,
              buffer_size=max(args.steps, 1_000), learning_starts=256, batch_size=256,
              gamma=float(hp.get("gamma", 0.99)), tau=0.005, seed=args.seed, device="cpu",
              action_noise=NormalActionNoise(np.zeros(n_act),
                                             args.action_noise * np.ones(n_act)),
              policy_kwargs={"net_arch": {"pi": model.actor.layer_sizes[1:-1], "qf": critic},
                             "activation_fn": nn.ReLU})
    policy: Any = td3.policy
    # TD3's deterministic head becomes the fake-quant actor (its output is in [-1, 1] too)
    policy.actor.mu = student
    policy.actor_target.mu = copy.deepcopy(student)
    td3.actor_learning_rate = args.actor_learning_rate
    policy.actor.optimizer = torch.optim.Adam(policy.actor.parameters(),
                                              lr=args.actor_learning_rate)
    # actor frozen while the new critic learns what the policy's actions are worth
    student.requires_grad_(False)
    callback = _Validate(args.eval_every, on_eval)
    warmup = min(args.critic_warmup, args.steps)
    if warmup:
        td3.learn(warmup, callback=callback, reset_num_timesteps=True)
    student.requires_grad_(True)
    if args.steps > warmup:
        td3.learn(args.steps - warmup, callback=callback, reset_num_timesteps=False)
    env.close()
