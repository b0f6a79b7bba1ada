"""Train this project's controller in a few seconds and write it as a qhil model folder.

A linear feedback law for InvertedPendulum-v5 is found by the cross-entropy method on a
few training episodes, then distilled into a small ReLU MLP (the network the MCU runs).
Seeds 0..99 of the env are this project's training episodes; qhil's evaluation uses its own
held-out seeds (10000.. validation, 100000.. test).

    python train_policy.py            # writes build/model/
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import qhil.api as qhil
from qhil.common.actor import FloatActor

ENV = "InvertedPendulum-v5"


def episode_return(env: gym.Env, gains: np.ndarray, seed: int, limit: float) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(np.clip([gains @ obs], -limit, limit))
        total += float(reward)
        done = terminated or truncated
    return total


def find_gains(env: gym.Env, rng: np.random.Generator) -> np.ndarray:
    """Cross-entropy method over the four feedback gains."""
    mean, std = np.zeros(4), np.full(4, 5.0)
    for it in range(30):
        samples = mean + std * rng.standard_normal((16, 4))
        scores = [episode_return(env, g, it, 3.0) for g in samples]
        elite = samples[np.argsort(scores)[-4:]]
        mean, std = elite.mean(axis=0), elite.std(axis=0) + 0.1
        if min(sorted(scores)[-4:]) >= 1000:
            break
    return mean


def distill(env: gym.Env, gains: np.ndarray, rng: np.random.Generator) -> FloatActor:
    """A [4, 32, 32, 1] ReLU MLP with a tanh output fitted to the feedback law on the
    states it visits (with action noise, so it also sees recoveries)."""
    states = []
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done and len(states) < 10_000:
            states.append(obs)
            u = np.clip(gains @ obs + 0.3 * rng.standard_normal(), -3, 3)
            obs, _, terminated, truncated, _ = env.step([u])
            done = terminated or truncated
    x = np.asarray(states)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-3
    target = np.arctanh(np.clip(x @ gains / 3.0, -0.98, 0.98))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32),
                              torch.nn.ReLU(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt = torch.tensor((x - mean) / std, dtype=torch.float32)
    yt = torch.tensor(target[:, None], dtype=torch.float32)
    for _ in range(600):
        opt.zero_grad()
        loss = torch.mean((net(xt) - yt) ** 2)
        loss.backward()
        opt.step()
    layers = [m for m in net if isinstance(m, torch.nn.Linear)]
    return FloatActor(weights=tuple(m.weight.detach().numpy() for m in layers),
                      biases=tuple(m.bias.detach().numpy() for m in layers),
                      obs_mean=mean, obs_std=std, obs_clip=np.inf,
                      action_low=np.array([-3.0]), action_high=np.array([3.0]), output="tanh")


def main(out: Path) -> int:
    rng = np.random.default_rng(0)
    env = gym.make(ENV)
    gains = find_gains(env, rng)
    actor = distill(env, gains, rng)
    env.close()
    model = qhil.save_model(out, actor, ENV, algo="cem+distillation",
                            provenance="examples/user-ci/train_policy.py")
    val = qhil.evaluate(model, episodes=5, split=qhil.Split.VALIDATION)
    print(f"wrote {out}: validation return {val.result.mean:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/model")))
