"""QAT mode (b): RL fine-tuning of the fake-quant actor with stable-baselines3's TD3.

The actor TD3 trains *is* the :class:`~qhil.quant.fakequant.FakeQuantActor`: its forward
pass rounds where the device rounds, so the return TD3 optimizes is the quantized
policy's own. The critic is new (the shipped models keep only their actors), so it learns
alone first (``critic_warmup`` steps, actor frozen), then both learn. The actor starts
from wherever the caller left it - after DAgger distillation, normally - and exports are
kept only when their validation return improves on the best so far. With ``bc_alpha``
the actor's loss is TD3+BC's, the float teacher as the behaviour to stay near.
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


class _TeacherPull(torch.optim.Adam):
    """The actor's Adam with TD3+BC's objective (Fujimoto & Gu 2021): each step turns TD3's
    actor gradient, of -Q, into that of -lambda Q + (pi(s) - teacher(s))^2 on a replay batch,
    lambda = alpha / mean |Q|. The float teacher stands in for the dataset's actions, so the
    actor stays near the policy it was distilled from while the young critic is noisy."""

    def __init__(self, params: Any, lr: float, td3: TD3, student: FakeQuantActor,
                 model: ModelDir, alpha: float) -> None:
        super().__init__(params, lr=lr)
        self.td3, self.student, self.model, self.alpha = td3, student, model, alpha

    def step(self, closure: Any = None) -> Any:
        if not any(p.requires_grad for p in self.student.parameters()):
            return super().step(closure)  # the critic's warm-up: the actor is frozen
        assert self.td3.replay_buffer is not None
        # float32 as SB3's own feature extractor makes them (MuJoCo's observations are float64)
        obs = self.td3.replay_buffer.sample(256).observations.float()
        teacher = torch.as_tensor(self.model.actor.squashed(obs.numpy()), dtype=torch.float32)
        action = self.student(obs)  # one fake-quant forward serves both terms
        with torch.no_grad():
            q = self.td3.critic.q1_forward(obs, action.detach())
            lam = self.alpha / max(float(q.abs().mean()), 1e-6)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.mul_(lam)
        nn.functional.mse_loss(action, teacher).backward()
        return super().step(closure)


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
    policy.actor.optimizer = (
        _TeacherPull(policy.actor.parameters(), args.actor_learning_rate, td3, student, model,
                     args.bc_alpha) if args.bc_alpha > 0
        else torch.optim.Adam(policy.actor.parameters(), lr=args.actor_learning_rate))
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
