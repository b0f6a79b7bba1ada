"""Pull the deterministic actor out of a stable-baselines3 model as a :class:`FloatActor`.

- TD3: ``policy.actor.mu`` is ``Linear, ReLU, ..., Linear, Tanh``.
- SAC: ``policy.actor.latent_pi`` (``Linear, ReLU, ...``) then ``policy.actor.mu``; the
  deterministic action is ``tanh(mu)``.
- PPO: ``policy.mlp_extractor.policy_net`` then ``policy.action_net``; the deterministic
  action is the mean, clipped to the bounds. A ``VecNormalize`` wrapper's running
  statistics become the actor's observation normalization.
"""

from __future__ import annotations

import math
from typing import cast

import gymnasium as gym
import numpy as np
import torch.nn as nn
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecNormalize

from qhil.common.actor import FloatActor, OutputKind
from qhil.common.errors import ConfigError

__all__ = ["extract_actor"]


def _linears(*modules: nn.Module) -> list[nn.Linear]:
    layers: list[nn.Linear] = []
    for module in modules:
        for sub in module.modules():
            if isinstance(sub, nn.Linear):
                layers.append(sub)
    return layers


def _check_relu_hidden(*modules: nn.Module) -> None:
    for module in modules:
        for sub in module.modules():
            if isinstance(sub, (nn.Tanh, nn.Sigmoid, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU)):
                raise ConfigError(f"hidden activation {type(sub).__name__} is not supported; use ReLU")


def extract_actor(model: BaseAlgorithm, vec_normalize: VecNormalize | None = None) -> FloatActor:
    """Return the deterministic actor of a TD3, SAC or PPO model as float arrays."""
    space = cast(gym.spaces.Box, model.action_space)  # make_env admits Box spaces only
    low = np.asarray(space.low, dtype=np.float64)
    high = np.asarray(space.high, dtype=np.float64)
    output: OutputKind
    if isinstance(model, TD3):
        seq = model.actor.mu
        hidden = nn.Sequential(*list(seq)[:-1])  # drop the final Tanh
        _check_relu_hidden(hidden)
        linears = _linears(hidden)
        output = "tanh"
    elif isinstance(model, SAC):
        _check_relu_hidden(model.actor.latent_pi)
        linears = _linears(model.actor.latent_pi) + _linears(model.actor.mu)
        output = "tanh"
    elif isinstance(model, PPO):
        _check_relu_hidden(model.policy.mlp_extractor.policy_net)
        linears = (_linears(model.policy.mlp_extractor.policy_net)
                   + _linears(model.policy.action_net))
        output = "clip"
    else:
        raise ConfigError(f"cannot extract an actor from {type(model).__name__}")
    weights = tuple(layer.weight.detach().cpu().numpy().astype(np.float32) for layer in linears)
    biases = tuple(layer.bias.detach().cpu().numpy().astype(np.float32) for layer in linears)
    n_in = weights[0].shape[1]
    mean, std, clip = np.zeros(n_in), np.ones(n_in), math.inf
    if vec_normalize is not None and vec_normalize.norm_obs:
        rms = cast(RunningMeanStd, vec_normalize.obs_rms)  # Box observations: one RunningMeanStd
        mean = np.asarray(rms.mean, dtype=np.float64)
        std = np.sqrt(np.asarray(rms.var, dtype=np.float64) + vec_normalize.epsilon)
        clip = float(vec_normalize.clip_obs)
    return FloatActor(weights, biases, mean, std, clip, low, high, output)
