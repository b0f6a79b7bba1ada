"""Gymnasium environment helpers: validated creation and the shipped task list.

An *env reference* names the environment of a model everywhere (meta.json, blobs,
reports, jobs): a registered Gymnasium id (``Pendulum-v1``), or a user's factory
``package.module:function`` (called with the keyword arguments, must return a
``gymnasium.Env``), optionally followed by a space and a JSON object of keyword
arguments: ``mylab.envs:make_arm {"links": 3}``. One string, so that every process that
recreates the env (a Ray worker, a later ``qhil bench``) gets the same one.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import sys
from typing import Any

import gymnasium as gym
import numpy as np

from qhil.common.errors import ConfigError

__all__ = ["SHIPPED_ENVS", "make_env", "check_env_id", "box_bounds", "env_shape", "env_reference",
           "parse_env_reference", "env_module_file"]

#: The tasks whose trained actors ship in ``models/`` (each in ``models/<id without its
#: namespace>``: qhil/QuadrotorHover-v0 in models/QuadrotorHover-v0).
SHIPPED_ENVS: tuple[str, ...] = (
    "Pendulum-v1",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "qhil/QuadrotorHover-v0",
)


# qhil's own tasks, registered when qhil loads (a Gymnasium id like any other)
if "qhil/QuadrotorHover-v0" not in gym.registry:
    gym.register(id="qhil/QuadrotorHover-v0",
                 entry_point="qhil.common.quadrotor:QuadrotorHover")  # 5 s episodes, its own


def env_reference(env_id: str, kwargs: dict[str, Any] | None = None) -> str:
    """The env reference of an id or factory and its keyword arguments (canonical JSON)."""
    if not kwargs:
        return env_id
    return f"{env_id} {json.dumps(kwargs, sort_keys=True, separators=(',', ':'))}"


def parse_env_reference(ref: str) -> tuple[str, dict[str, Any]]:
    """``(id or factory, keyword arguments)`` of an env reference."""
    name, _, rest = ref.strip().partition(" ")
    if not name:
        raise ConfigError("empty environment id")
    if not rest.strip():
        return name, {}
    try:
        kwargs = json.loads(rest)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"environment keyword arguments of '{name}' are not JSON ({exc})") from None
    if not isinstance(kwargs, dict):
        raise ConfigError(f"environment keyword arguments of '{name}' must be a JSON object")
    return name, kwargs


def _factory(name: str) -> Any | None:
    """The callable ``module:function`` names, or None when ``name`` is not one."""
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        return None
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` would: a module beside the user's files
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import the environment module '{module_name}' ({exc}): run "
                          "from the folder that holds it, or add that folder to PYTHONPATH") from None
    factory = getattr(module, attr, None)
    if factory is None:
        if attr in gym.registry or name in gym.registry:
            return None  # gymnasium's own "module:Registered-v0" spelling
        functions = sorted(n for n, v in vars(module).items()
                           if callable(v) and not n.startswith("_") and
                           getattr(v, "__module__", None) == module.__name__)
        raise ConfigError(f"the environment module '{module_name}' has no '{attr}' (its "
                          f"functions: {', '.join(functions) or 'none'})")
    if not callable(factory):
        raise ConfigError(f"'{name}' is not callable; give module:function returning a gymnasium.Env")
    return factory


def check_env_id(env_id: str) -> None:
    """Raise :class:`ConfigError` with a suggestion when ``env_id`` names no environment."""
    name, _ = parse_env_reference(env_id)
    if name in gym.registry or _factory(name) is not None:
        return
    if _is_module(name):
        raise ConfigError(f"'{name}' is a Python module, not an environment: name the function "
                          f"that makes it, {name}:FUNCTION (returning a gymnasium.Env)")
    close = difflib.get_close_matches(name, list(gym.registry.keys()), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ConfigError(f"unknown environment id '{name}'{hint}; give a Gymnasium id or "
                      "module:function")


def _is_module(name: str) -> bool:
    """Whether ``name`` is an importable module (a factory reference missing its function)."""
    import importlib.util

    if not all(part.isidentifier() for part in name.split(".")):
        return False
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def env_module_file(env_id: str) -> str | None:
    """Where the module of a factory reference lies (None: a Gymnasium id, or no file):
    model folders record it, so that an error elsewhere can say what to make importable."""
    import importlib.util

    name, _ = parse_env_reference(env_id)
    module_name, sep, _ = name.partition(":")
    if not sep:
        return None
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    return str(spec.origin) if spec is not None and spec.origin else None


def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    """Create the env of a reference after validating it: a Box action space and a flat
    Box observation space (a vector of features; images and discrete spaces are refused)."""
    name, ref_kwargs = parse_env_reference(env_id)
    kwargs = {**ref_kwargs, **kwargs}
    factory = _factory(name)
    if factory is None:
        check_env_id(name)
        env = gym.make(name, **kwargs)
    else:
        try:
            env = factory(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"environment factory '{name}' refused its arguments ({exc})") from None
        if not isinstance(env, gym.Env):
            raise ConfigError(f"'{name}' returned {type(env).__name__}, not a gymnasium.Env")
    action, obs = env.action_space, env.observation_space
    problem = None
    if not isinstance(action, gym.spaces.Box):
        problem = (f"has a {type(action).__name__} action space; qhil needs a continuous "
                   "(Box) action space")
    elif not isinstance(obs, gym.spaces.Box):
        problem = f"has a {type(obs).__name__} observation space; qhil needs a Box of features"
    elif len(obs.shape) != 1 or len(action.shape) != 1:
        problem = (f"has observations of shape {obs.shape} and actions of shape {action.shape};"
                   " qhil needs flat vectors (no images)")
    elif not (np.all(np.isfinite(action.low)) and np.all(np.isfinite(action.high))):
        problem = "has unbounded actions; qhil needs finite action bounds"
    if problem is not None:
        env.close()
        raise ConfigError(f"{name} {problem}")
    return env


def env_shape(env_ref: str) -> tuple[int, np.ndarray, np.ndarray]:
    """An env's observation size and action bounds (the env is made and closed)."""
    env = make_env(env_ref)
    try:
        low, high = box_bounds(env.action_space)
        return int(env.observation_space.shape[0]), low, high  # type: ignore[index]
    finally:
        env.close()


def box_bounds(space: gym.Space[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Low and high bounds of a Box as float64 arrays (may hold +-inf)."""
    if not isinstance(space, gym.spaces.Box):
        raise ConfigError(f"expected a Box space, got {type(space).__name__}")
    return space.low.astype(np.float64), space.high.astype(np.float64)
