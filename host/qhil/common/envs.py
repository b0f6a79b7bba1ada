"""Gymnasium environment helpers: validated creation and the shipped task list."""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium as gym
import numpy as np

from qhil.common.errors import ConfigError

__all__ = ["SHIPPED_ENVS", "make_env", "check_env_id", "box_bounds"]

#: The tasks whose trained actors ship in ``models/``.
SHIPPED_ENVS: tuple[str, ...] = (
    "Pendulum-v1",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
)


def check_env_id(env_id: str) -> None:
    """Raise :class:`ConfigError` with a suggestion when ``env_id`` is not registered."""
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ConfigError(f"unknown environment id '{env_id}'{hint}")


def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    """Create ``env_id`` after validating it; continuous (Box) action spaces only."""
    check_env_id(env_id)
    env = gym.make(env_id, **kwargs)
    if not isinstance(env.action_space, gym.spaces.Box):
        env.close()
        raise ConfigError(f"{env_id} has a {type(env.action_space).__name__} action space; "
                          "qhil needs a continuous (Box) action space")
    if not isinstance(env.observation_space, gym.spaces.Box):
        env.close()
        raise ConfigError(f"{env_id} has a non-Box observation space")
    return env


def box_bounds(space: gym.Space[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Low and high bounds of a Box as float64 arrays (may hold +-inf)."""
    if not isinstance(space, gym.spaces.Box):
        raise ConfigError(f"expected a Box space, got {type(space).__name__}")
    return space.low.astype(np.float64), space.high.astype(np.float64)
