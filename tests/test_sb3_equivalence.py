"""The numpy actor reproduces stable-baselines3's predict, and qhil eval its evaluate_policy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch.nn as nn
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy as sb3_evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from qhil.common.evaluation import evaluate_policy
from qhil.common.protocol import SeedRange
from qhil.train.extract import extract_actor

ENV = "Pendulum-v1"


def kw() -> dict:
    # SB3 writes into policy_kwargs, so every model gets its own dict.
    return {"policy_kwargs": {"net_arch": [64, 64], "activation_fn": nn.ReLU}, "seed": 0,
            "device": "cpu"}


def _states(n: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, n)
    return np.stack([np.cos(theta), np.sin(theta), rng.uniform(-8, 8, n)], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def td3() -> TD3:
    model = TD3("MlpPolicy", gym.make(ENV), learning_starts=100, **kw())
    model.learn(400)  # enough updates that the weights are no longer the initialization
    return model


def test_td3_actor_matches_predict(td3) -> None:
    obs = _states()
    expected, _ = td3.predict(obs, deterministic=True)
    actual = extract_actor(td3).act(obs)
    assert np.abs(actual - expected).max() < 1e-5


def test_sac_actor_matches_predict() -> None:
    model = SAC("MlpPolicy", gym.make(ENV), learning_starts=100, **kw())
    model.learn(300)
    obs = _states()
    expected, _ = model.predict(obs, deterministic=True)
    assert np.abs(extract_actor(model).act(obs) - expected).max() < 1e-5


def test_ppo_with_vecnormalize_matches_predict() -> None:
    venv = VecNormalize(make_vec_env(ENV, n_envs=1, seed=0), norm_obs=True, norm_reward=True)
    model = PPO("MlpPolicy", venv, n_steps=256, batch_size=64, n_epochs=2, **kw())
    model.learn(512)
    obs = _states()
    expected, _ = model.predict(venv.normalize_obs(obs), deterministic=True)
    actor = extract_actor(model, venv)
    assert np.isfinite(actor.obs_clip)
    assert np.abs(actor.act(obs) - expected).max() < 1e-5


def test_evaluation_agrees_with_sb3_evaluate_policy(td3) -> None:
    actor = extract_actor(td3)
    ours = evaluate_policy(actor, ENV, SeedRange.of(5, 3), None)
    for i in range(3):
        venv = DummyVecEnv([lambda: gym.make(ENV)])
        venv.seed(5 + i)
        rewards, _ = sb3_evaluate_policy(td3, venv, n_eval_episodes=1, deterministic=True,
                                         return_episode_rewards=True)
        assert ours.returns[i] == pytest.approx(rewards[0], rel=1e-4)
