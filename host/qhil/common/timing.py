"""Time in the loop: the controller's latency acts on the plant (docs/evaluation.md#time-in-the-loop).

A control step of an env is ``F`` physics steps of ``h`` seconds (MuJoCo's ``frame_skip``
and ``timestep``). An inference started at a control tick takes ``L`` seconds; until its
action lands the actuators hold the previous action. The delay is ``L`` rounded **up** to
whole physics steps, ``d = ceil(L / h)``:

- ``d <= F``: the first ``d`` physics steps of the period run the previous action, the
  rest the new one; the next observation is taken at the next tick;
- ``d > F`` (an overrun): one inference at a time, so the ticks that pass before the
  action lands run the previous action whole and take no observation, each a **miss**
  whose reward is summed into the return; the action lands ``d - nF`` physics steps into
  the ``n+1``-th period and the next observation is taken at the tick after it.

Envs with no physics sub-steps to split (Pendulum-v1, a user's env) are delayed by whole
control periods instead (``delay_periods``), the same rules with ``F = 1`` and ``h`` the
control period. Before the first action lands the actuators hold zero (clipped into the
action bounds). With zero latency the loop is exactly the lockstep one.

``physics_substeps = K`` divides MuJoCo's timestep by ``K`` and multiplies ``frame_skip`` by
``K`` (the control period is unchanged), so that latencies below one original physics
step (HalfCheetah's is 10 ms) are resolved: every policy of a comparison, the
zero-latency float baseline included, runs with the same ``K``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from qhil.common.errors import ConfigError

__all__ = ["Plant", "StepTiming", "has_physics_substeps"]


def has_physics_substeps(env: gym.Env[Any, Any]) -> bool:
    """Whether ``env``'s control step is physics steps that can be split: a Gymnasium
    MuJoCo env, or an env with ``frame_skip``, ``physics_dt`` and ``step_physics(ctrl, n)``
    (qhil's quadrotor; the interface a user's env offers to get the same)."""
    return _physics(env) is not None


class _Physics:
    """The physics steps of an env: their length, how many make a control step, and
    running ``n`` of them with a control held (two such runs split a control step)."""

    def __init__(self, env: Any) -> None:
        self.env = env

    @property
    def frames(self) -> int:
        return int(self.env.frame_skip)

    @property
    def step_s(self) -> float:
        return float(self.env.physics_dt)

    def refine(self, k: int) -> None:
        self.env.physics_dt /= k
        self.env.frame_skip *= k

    def hold(self, hook: _HoldHook) -> None:
        hook.original = self.env.step_physics
        self.env.step_physics = hook


class _MujocoPhysics(_Physics):
    @property
    def step_s(self) -> float:
        return float(self.env.model.opt.timestep)

    def refine(self, k: int) -> None:
        self.env.model.opt.timestep /= k
        self.env.frame_skip *= k

    def hold(self, hook: _HoldHook) -> None:
        hook.original = self.env._step_mujoco_simulation
        self.env._step_mujoco_simulation = hook


def _physics(env: gym.Env[Any, Any]) -> _Physics | None:
    u: Any = env.unwrapped
    if hasattr(u, "step_physics") and hasattr(u, "frame_skip") and hasattr(u, "physics_dt"):
        return _Physics(u)
    if hasattr(u, "_step_mujoco_simulation") and hasattr(u, "frame_skip"):
        return _MujocoPhysics(u)
    return None


@dataclass
class StepTiming:
    """What the timing did at one tick: the inference's latency and the delay applied."""

    latency_s: float
    delay_steps: int
    """physics steps the previous action was held for (periods, for period delays)"""
    misses: int
    """control ticks that passed with no new action (an overrun)"""


class _HoldHook:
    """Takes the place of an env's physics stepping (:class:`_Physics`): the first ``hold``
    physics steps of the next control step run ``previous`` instead of the commanded
    control."""

    def __init__(self, physics: _Physics) -> None:
        self.original: Any = None
        self.hold = 0
        self.previous: np.ndarray | None = None
        physics.hold(self)

    def __call__(self, ctrl: np.ndarray, n_frames: int) -> None:
        held = min(self.hold, n_frames)
        if held:
            assert self.previous is not None
            self.original(self.previous, held)
        if n_frames - held:
            self.original(ctrl, n_frames - held)


class Plant:
    """An env whose actuators feel the controller's latency.

    :param physics_substeps: split each physics step in this many (MuJoCo envs)
    :param delay_periods: for envs without physics steps to split: delay every action by
        this many whole control periods (None: such an env is refused)
    """

    def __init__(self, env: gym.Env[Any, Any], physics_substeps: int = 1,
                 delay_periods: int | None = None) -> None:
        if physics_substeps < 1:
            raise ConfigError(f"--physics-substeps must be >= 1, got {physics_substeps}")
        self.env = env
        u: Any = env.unwrapped
        self.period = float(getattr(u, "dt", 0.0) or 0.0)
        self.delay_periods = delay_periods
        self._hook: _HoldHook | None = None
        if delay_periods is None:
            physics = _physics(env)
            if physics is None:
                raise ConfigError(
                    f"{getattr(env.spec, 'id', type(u).__name__)} has no physics steps to "
                    "delay an action by (not a MuJoCo env): give --delay-periods N to delay "
                    "every action by N whole control periods")
            if physics_substeps > 1:
                physics.refine(physics_substeps)
            self.frames = physics.frames
            self.physics_dt = physics.step_s
            self._hook = _HoldHook(physics)
        else:
            if delay_periods < 0:
                raise ConfigError(f"--delay-periods must be >= 0, got {delay_periods}")
            self.frames = 1
            self.physics_dt = self.period
        space: Any = env.action_space
        self.rest = np.clip(np.zeros(space.shape), space.low, space.high)

    @staticmethod
    def substeps_only(env: gym.Env[Any, Any], physics_substeps: int) -> None:
        """Only the finer physics (the zero-latency float baseline of a timed run)."""
        physics = _physics(env)
        if physics_substeps > 1 and physics is not None:
            physics.refine(physics_substeps)

    def delay(self, latency_s: float) -> int:
        """Physics steps (or periods) the previous action holds for a latency."""
        if latency_s < 0 or not math.isfinite(latency_s):
            raise ConfigError(f"a latency must be finite and >= 0, got {latency_s}")
        if self.delay_periods is not None:
            return self.delay_periods
        # a hair below a whole step is that step: float residue must not add one
        return math.ceil(latency_s / self.physics_dt - 1e-9)

    def run(self, act: Callable[[np.ndarray], np.ndarray], latency: Callable[[], float],
            obs: np.ndarray, on_tick: Callable[[StepTiming], None] | None = None
            ) -> tuple[np.ndarray, np.ndarray, float, bool, bool, list[dict[str, Any]]]:
        """One inference from ``obs`` until the next observation: ``(action, next obs, reward
        summed over the ticks it took, terminated, truncated, each tick's info)``."""
        action = act(obs)
        latency_s = latency()
        d = self.delay(latency_s)
        misses = 0
        reward = 0.0
        infos: list[dict[str, Any]] = []
        while True:
            landing = d <= self.frames
            hold = d if landing else self.frames
            if not landing:
                misses += 1
            obs, r, terminated, truncated, info = self._step(
                action if landing else self.rest_or_prev(), hold)
            infos.append(info)
            reward += r
            d -= self.frames
            if landing or terminated or truncated:
                break
        if on_tick is not None:
            on_tick(StepTiming(latency_s, self.delay(latency_s), misses))
        self._prev = action
        return action, obs, reward, terminated, truncated, infos

    def rest_or_prev(self) -> np.ndarray:
        return getattr(self, "_prev", self.rest)

    def _step(self, action: np.ndarray, hold: int
              ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        prev = self.rest_or_prev()
        if self._hook is not None:
            self._hook.hold = hold
            self._hook.previous = np.asarray(prev, np.float64)
            obs, r, terminated, truncated, info = self.env.step(action)
            self._hook.hold = 0
        else:  # whole periods: the tick runs the previous action when it is held over it
            obs, r, terminated, truncated, info = self.env.step(prev if hold >= 1 else action)
        return obs, float(r), bool(terminated), bool(truncated), dict(info)

    def reset(self) -> None:
        """A new episode starts from rest."""
        self.__dict__.pop("_prev", None)
