"""Pull the deterministic actor out of a stable-baselines3 model as a :class:`FloatActor`.

- TD3 and DDPG: ``policy.actor.mu`` is ``Linear, act, ..., Linear, Tanh``.
- SAC: ``policy.actor.latent_pi`` (``Linear, act, ...``) then ``policy.actor.mu``; the
  deterministic action is ``tanh(mu)``.
- PPO and A2C: ``policy.mlp_extractor.policy_net`` then ``policy.action_net``; the
  deterministic action is the Gaussian mean, clipped to the bounds.

Hidden activations may be ReLU, Tanh or none (any ``net_arch``). A ``VecNormalize``
wrapper's running statistics become the actor's observation normalization.
"""

from __future__ import annotations

import math
from typing import cast

import gymnasium as gym
import numpy as np
import torch.nn as nn
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecNormalize

from qhil.common.actor import Activation, FloatActor, OutputKind
from qhil.common.errors import ConfigError

__all__ = ["extract_actor", "mlp_layers", "TORCH_ACTIVATIONS"]

#: torch modules that are a hidden activation qhil can run.
TORCH_ACTIVATIONS: dict[type[nn.Module], Activation] = {
    nn.ReLU: Activation.RELU, nn.Tanh: Activation.TANH, nn.Identity: Activation.IDENTITY}
_PASS_THROUGH = (nn.Sequential, nn.Flatten, nn.ModuleList)


def mlp_layers(*modules: nn.Module) -> tuple[list[nn.Linear], list[Activation]]:
    """The Linear layers of ``modules`` in order and the activation after each (identity
    when none follows). Anything else is refused, naming it."""
    linears: list[nn.Linear] = []
    acts: list[Activation] = []
    for module in modules:
        for sub in module.modules():
            if isinstance(sub, nn.Linear):
                linears.append(sub)
                acts.append(Activation.IDENTITY)
            elif type(sub) in TORCH_ACTIVATIONS:
                if not linears or acts[-1] is not Activation.IDENTITY:
                    raise ConfigError(f"activation {type(sub).__name__} does not follow a Linear layer")
                acts[-1] = TORCH_ACTIVATIONS[type(sub)]
            elif not isinstance(sub, _PASS_THROUGH) and sub is not module:
                raise ConfigError(f"layer {type(sub).__name__} is not supported "
                                  "(Linear with ReLU, Tanh or no activation)")
    if not linears:
        raise ConfigError("the network has no Linear layer")
    return linears, acts


def extract_actor(model: BaseAlgorithm, vec_normalize: VecNormalize | None = None) -> FloatActor:
    """Return the deterministic actor of a TD3, DDPG, SAC, PPO or A2C model as float arrays."""
    space = cast(gym.spaces.Box, model.action_space)  # make_env admits Box spaces only
    low = np.asarray(space.low, dtype=np.float64)
    high = np.asarray(space.high, dtype=np.float64)
    output: OutputKind
    if isinstance(model, TD3):  # DDPG is a TD3
        linears, acts = mlp_layers(model.actor.mu)
        if acts[-1] is not Activation.TANH:
            raise ConfigError("a TD3/DDPG actor ends in Tanh")
        acts[-1] = Activation.IDENTITY
        output = "tanh"
    elif isinstance(model, SAC):
        linears, acts = mlp_layers(model.actor.latent_pi, model.actor.mu)
        output = "tanh"
    elif isinstance(model, (PPO, A2C)):
        linears, acts = mlp_layers(model.policy.mlp_extractor.policy_net, model.policy.action_net)
        output = "clip"
    else:
        raise ConfigError(f"cannot extract an actor from {type(model).__name__}")
    if acts[-1] is not Activation.IDENTITY:
        raise ConfigError(f"the action layer has an activation ({acts[-1].value})")
    weights = tuple(layer.weight.detach().cpu().numpy().astype(np.float32) for layer in linears)
    biases = tuple(_bias(layer) for layer in linears)
    n_in = weights[0].shape[1]
    mean, std, clip = np.zeros(n_in), np.ones(n_in), math.inf
    if vec_normalize is not None and vec_normalize.norm_obs:
        rms = cast(RunningMeanStd, vec_normalize.obs_rms)  # Box observations: one RunningMeanStd
        mean = np.asarray(rms.mean, dtype=np.float64)
        std = np.sqrt(np.asarray(rms.var, dtype=np.float64) + vec_normalize.epsilon)
        clip = float(vec_normalize.clip_obs)
    return FloatActor(weights, biases, mean, std, clip, low, high, output, tuple(acts[:-1]))


def _bias(layer: nn.Linear) -> np.ndarray:
    if layer.bias is None:
        return np.zeros(layer.out_features, np.float32)
    return layer.bias.detach().cpu().numpy().astype(np.float32)
