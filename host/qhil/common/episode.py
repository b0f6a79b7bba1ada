"""The one episode loop: evaluation, calibration, QAT's data collection and the bench all
run their episodes through :func:`run_episode`.

A policy is anything with ``act(obs) -> action``; what a caller needs besides the return
(the states visited, device answers, timings) it gathers in the policy itself or in the
per-step callback. Observation noise, when asked for, is drawn here, from
``default_rng([seed, 7919])`` per episode, so every policy run on the same seed with the
same level sees the same draws (docs/evaluation.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from qhil.common.errors import QhilError
from qhil.common.timing import Plant, StepTiming

__all__ = ["Policy", "FunctionPolicy", "Step", "Episode", "StepCallback", "run_episode",
           "NonFiniteObservation", "NOISE_STREAM"]

#: The second word of each episode's noise generator seed: ``default_rng([seed, 7919])``.
NOISE_STREAM = 7919


class Policy(Protocol):
    """What the loop drives: one observation ``[obs_dim]`` in, one action ``[act_dim]`` out."""

    def act(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class FunctionPolicy:
    """A plain function ``obs -> action`` as a :class:`Policy` (a controller, a test's stub)."""

    fn: Callable[[np.ndarray], np.ndarray]

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.fn(obs)


@dataclass(frozen=True)
class Step:
    """One step, as the callback sees it after ``env.step``.

    :param index: 0 for the first step of the episode
    :param seen: the observation the policy acted on (noise included)
    """

    index: int
    seen: np.ndarray
    action: np.ndarray
    reward: float


@dataclass
class Episode:
    """What every episode yields: return, length, whether it ended early, env time."""

    seed: int
    ret: float = 0.0
    steps: int = 0
    terminated: bool = False
    """ended before the time limit (a fall, a crash): docs/evaluation.md"""
    env_s: float = 0.0
    """seconds spent inside ``env.step``"""
    metrics: dict[str, float] = field(default_factory=dict)
    """task metrics the env reports (``info["qhil_metric_sq"]``: squared values per step),
    as root mean squares over the episode's steps (the quadrotor's position error)"""


StepCallback = Callable[[Step], None]


class NonFiniteObservation(QhilError):
    """The env handed the policy a NaN or infinite observation."""


def run_episode(policy: Policy, env: gym.Env[Any, Any], seed: int, *, noise: float = 0.0,
                noise_scale: np.ndarray | None = None, on_step: StepCallback | None = None,
                max_steps: int | None = None, plant: Plant | None = None,
                latency: Callable[[], float] | None = None,
                on_timing: Callable[[StepTiming], None] | None = None) -> Episode:
    """Run ``policy`` from ``env.reset(seed=seed)`` until the episode ends (or ``max_steps``).

    :param noise: Gaussian noise on what the policy sees (not on the env's state), std
        ``noise * noise_scale`` per feature; 0 for none
    :param noise_scale: per-feature scale of the noise (the actor's observation std)
    :param on_step: called after every ``env.step``
    :param max_steps: stop after this many steps (calibration's cap); the episode then
        counts as neither terminated nor finished early
    :param plant: time in the loop (:mod:`qhil.common.timing`): each action lands after
        the latency ``latency()`` reports for the inference just made, the previous one
        held until then; steps then count control ticks, missed ones included
    :param on_timing: called once per inference with its latency, delay and misses
    :raises NonFiniteObservation: a NaN/inf observation (the policy never sees it)
    """
    if noise and noise_scale is None:
        raise ValueError("observation noise needs a per-feature scale")
    rng = np.random.default_rng([seed, NOISE_STREAM]) if noise else None
    std = noise * noise_scale if noise_scale is not None else None
    obs, _ = env.reset(seed=seed)
    if plant is not None:
        plant.reset()
    ep = Episode(seed)
    squares: dict[str, float] = {}
    done = False
    while not done and (max_steps is None or ep.steps < max_steps):
        seen = obs if rng is None or std is None else obs + std * rng.standard_normal(obs.shape)
        if not np.isfinite(seen).all():
            raise NonFiniteObservation(f"the env returned a NaN/inf observation at seed {seed} "
                                       f"step {ep.steps}")
        t0 = time.perf_counter()
        if plant is None:
            action = policy.act(seen)
            t0 = time.perf_counter()
            obs, reward, terminated, truncated, info = env.step(action)
            infos = [info]
        else:
            assert latency is not None, "a timed loop needs each inference's latency"
            action, obs, reward, terminated, truncated, infos = plant.run(
                policy.act, latency, seen, on_timing)
        ticks = len(infos)
        for info in infos:
            for name, value in (info.get("qhil_metric_sq") or {}).items():
                squares[name] = squares.get(name, 0.0) + float(value)
        ep.env_s += time.perf_counter() - t0
        ep.ret += float(reward)
        if on_step is not None:
            on_step(Step(ep.steps, seen, action, float(reward)))
        ep.steps += ticks
        ep.terminated = bool(terminated)
        done = terminated or truncated
    ep.metrics = {name: math.sqrt(total / max(ep.steps, 1)) for name, total in squares.items()}
    return ep
