"""Start a PPO actor as a clone of the env's own controller (DAgger), before RL.

An env that carries a controller exposes it as ``qhil_expert(obs) -> action``
(:class:`qhil.common.quadrotor.QuadrotorHover` does). ``qhil train --set imitate=N``
then runs N rounds of DAgger (Ross et al. 2011) on training seeds: round 0 lets the
expert fly (with a little action noise, so that the data holds recoveries), every later
round lets the clone fly and the expert label the states it reaches; after each round
the actor's mean is fitted to all labels so far by least squares. The observation
normalization is fixed from round 0's states and handed to PPO's ``VecNormalize``, which
keeps updating it during RL. The critic is fitted too, to the discounted (normalized)
returns of the clone's last round: with an untrained critic the first PPO updates follow
noise and undo the clone within a few thousand steps. What is cloned is only a starting point: training's
validation then keeps the best actor of the clone and every RL checkpoint after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecNormalize

from qhil.common.envs import make_env
from qhil.common.errors import ConfigError
from qhil.common.protocol import Split, split_seeds

__all__ = ["clone_expert", "check_has_expert", "EPISODES_PER_ROUND"]

LOG = logging.getLogger(__name__)

EPISODES_PER_ROUND = 10
IMITATION_OFFSET = 70_000  # training seeds 90000.. (docs/evaluation.md)
EXPERT_NOISE = 0.05  # std of the noise on the expert's own actions in round 0
EPOCHS = 8
BATCH = 256

Expert = Callable[[np.ndarray], np.ndarray]


def check_has_expert(env_id: str) -> None:
    """Refuse an env that has no ``qhil_expert`` method, naming it."""
    env = make_env(env_id)
    try:
        if not callable(getattr(env.unwrapped, "qhil_expert", None)):
            raise ConfigError(f"--set imitate: {env_id} has no qhil_expert(obs) controller "
                              "to clone")
    finally:
        env.close()


def clone_expert(model: PPO, venv: VecNormalize, env_id: str, rounds: int, seed: int,
                 report: Callable[[int, int, float], None] | None = None) -> None:
    """Fit ``model``'s actor mean to the env's expert by ``rounds`` rounds of DAgger and set
    ``venv``'s observation statistics; ``report(round, samples, error)`` after each."""
    env = make_env(env_id)
    expert: Expert = env.unwrapped.qhil_expert  # type: ignore[attr-defined]
    seeds = split_seeds(Split.FIT, rounds * EPISODES_PER_ROUND, offset=IMITATION_OFFSET)
    rng = np.random.default_rng(seed)
    policy = model.policy
    net = torch.nn.Sequential(policy.mlp_extractor.policy_net, policy.action_net)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    low, high = env.action_space.low, env.action_space.high  # type: ignore[attr-defined]
    states: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    episodes: list[tuple[int, list[float]]] = []  # (first state, rewards) of the last round
    mean = std = None
    for r in range(rounds):
        episodes.clear()
        for i in range(EPISODES_PER_ROUND):
            obs, _ = env.reset(seed=seeds.start + r * EPISODES_PER_ROUND + i)
            episodes.append((len(states), []))
            done = False
            while not done:
                target = np.clip(expert(obs), low, high)
                states.append(obs)
                labels.append(target)
                if r == 0:
                    action = target + rng.normal(0.0, EXPERT_NOISE, target.shape)
                else:
                    with torch.no_grad():
                        x = torch.as_tensor(_normalize(obs, mean, std, venv), dtype=torch.float32)
                        action = net(x[None])[0].numpy()
                obs, reward, terminated, truncated, _ = env.step(np.clip(action, low, high))
                episodes[-1][1].append(float(reward))
                done = terminated or truncated
        x_all = np.asarray(states)
        if r == 0:
            mean, std = x_all.mean(axis=0), x_all.std(axis=0)
            _set_statistics(venv, mean, x_all.var(axis=0), len(x_all))
        error = _fit(net, optimizer, _normalize(x_all, mean, std, venv), np.asarray(labels), rng)
        if report is not None:
            report(r, len(x_all), error)
    env.close()
    _fit_critic(model, venv, _normalize(np.asarray(states), mean, std, venv), episodes, rng)


def _fit_critic(model: PPO, venv: VecNormalize, x: np.ndarray,
                episodes: list[tuple[int, list[float]]], rng: np.random.Generator) -> None:
    """Set ``venv``'s return statistics from ``episodes`` and fit the value net to their
    discounted returns of normalized rewards (what PPO's critic will be asked for)."""
    running: list[float] = []  # VecNormalize's running discounted return, step by step
    for _, rewards in episodes:
        ret = 0.0
        for reward in rewards:
            ret = ret * venv.gamma + reward
            running.append(ret)
    flat = np.asarray(running)
    venv.ret_rms.mean = np.asarray(flat.mean())
    venv.ret_rms.var = np.asarray(flat.var())
    venv.ret_rms.count = float(flat.size)
    scale = float(np.sqrt(venv.ret_rms.var + venv.epsilon))
    rows, targets = [], []
    for first, rewards in episodes:
        value, values = 0.0, np.empty(len(rewards))
        for k in range(len(rewards) - 1, -1, -1):
            value = np.clip(rewards[k] / scale, -venv.clip_reward, venv.clip_reward) \
                + model.gamma * value
            values[k] = value
        rows.append(x[first:first + len(rewards)])
        targets.append(values[:, None])
    policy = model.policy
    critic = torch.nn.Sequential(policy.mlp_extractor.value_net, policy.value_net)
    _fit(critic, torch.optim.Adam(critic.parameters(), lr=1e-3), np.concatenate(rows),
         np.concatenate(targets), rng)


def _set_statistics(venv: VecNormalize, mean: np.ndarray, var: np.ndarray, count: int) -> None:
    rms = cast(RunningMeanStd, venv.obs_rms)  # Box observations: one RunningMeanStd
    rms.mean = mean.astype(np.float64)
    rms.var = var.astype(np.float64)
    rms.count = float(count)


def _normalize(x: np.ndarray, mean: np.ndarray | None, std: np.ndarray | None,
               venv: VecNormalize) -> np.ndarray:
    """VecNormalize's transform with the statistics fixed in round 0."""
    assert mean is not None and std is not None
    scale = np.sqrt(std * std + venv.epsilon)
    return np.clip((x - mean) / scale, -venv.clip_obs, venv.clip_obs)


def _fit(net: torch.nn.Module, optimizer: torch.optim.Optimizer, x: np.ndarray,
         y: np.ndarray, rng: np.random.Generator) -> float:
    """Least squares on all labels so far; the mean absolute action error after it."""
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    for _ in range(EPOCHS):
        order = torch.as_tensor(rng.permutation(len(xt)))
        for start in range(0, len(xt), BATCH):
            batch = order[start:start + BATCH]
            loss = torch.mean((net(xt[batch]) - yt[batch]) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return float(torch.mean(torch.abs(net(xt) - yt)))
