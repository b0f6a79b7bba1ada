"""Calibration data and ranges: what the float policy's inputs and activations look like.

Coverage beats everything here: ranges that miss states the quantized policy later
visits saturate exactly where control matters. So observations come from rollouts of
the float policy *with* action noise (the quantized policy drifts off the float
trajectory), on seeds 20000.. that neither validation nor test episodes use, and a
finite observation bound replaces a calibrated range that already spans most of it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from qhil.common.actor import FloatActor
from qhil.common.envs import make_env
from qhil.common.episode import FunctionPolicy, Step, run_episode
from qhil.common.errors import ConfigError
from qhil.common.protocol import SeedRange, Split, check_seeds

__all__ = ["CALIBRATION_SEED", "collect_observations", "feature_ranges", "activation_range",
           "RangeMethod"]

CALIBRATION_SEED = 20_000  # the fit split's calibration seeds (docs/evaluation.md)
RangeMethod = Literal["minmax", "percentile", "mse"]


def collect_observations(
    actor: FloatActor,
    env_id: str,
    episodes: int = 20,
    seed: int = CALIBRATION_SEED,
    action_noise: float = 0.1,
    max_steps: int = 20_000,
) -> np.ndarray:
    """Observations ``[N, obs_dim]`` from noisy rollouts of the float policy.

    :param episodes: rollouts (> 0); each resets with ``seed + i``
    :param action_noise: Gaussian noise std as a fraction of the action half-range
    :param max_steps: cap on the total number of observations
    """
    if episodes <= 0:
        raise ConfigError("calibration needs at least one episode")
    check_seeds(SeedRange.of(seed, episodes), Split.FIT)
    env = make_env(env_id)
    rng = np.random.default_rng(seed)
    half = 0.5 * (actor.action_high - actor.action_low)
    observations: list[np.ndarray] = []

    def noisy(obs: np.ndarray) -> np.ndarray:
        action = actor.act(obs) + action_noise * half * rng.standard_normal(half.shape)
        return np.clip(action, actor.action_low, actor.action_high)

    def keep(step: Step) -> None:
        observations.append(np.asarray(step.seen, dtype=np.float64))

    try:
        for i in range(episodes):
            run_episode(FunctionPolicy(noisy), env, seed + i, on_step=keep,
                        max_steps=max(1, max_steps // episodes))
    finally:
        env.close()
    return np.stack(observations)


def _span(values: np.ndarray, method: RangeMethod, percentile: float) -> tuple[np.ndarray, np.ndarray]:
    if method == "minmax":
        return values.min(axis=0), values.max(axis=0)
    if method == "percentile":
        return (np.percentile(values, 100 - percentile, axis=0),
                np.percentile(values, percentile, axis=0))
    raise ConfigError(f"unknown range method '{method}' (minmax or percentile)")


def feature_ranges(
    observations: np.ndarray,
    space_low: np.ndarray,
    space_high: np.ndarray,
    method: RangeMethod = "minmax",
    percentile: float = 99.99,
    margin: float = 0.1,
    bound_coverage: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature ``[lo, hi]`` of the raw observation that the input codes must cover.

    The calibrated span is widened by ``margin`` (fraction of the span) each side. Where
    the observation space has finite bounds and the calibrated span covers at least
    ``bound_coverage`` of them, the bounds are used instead (Pendulum's angular velocity);
    otherwise the widened span is clipped to the bounds.
    """
    lo, hi = _span(observations, method, percentile)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - margin * span, hi + margin * span
    finite = np.isfinite(space_low) & np.isfinite(space_high)
    bound_span = np.where(finite, space_high - space_low, np.inf)
    use_bounds = finite & (span >= bound_coverage * bound_span)
    lo = np.where(use_bounds, space_low, np.where(finite, np.maximum(lo, space_low), lo))
    hi = np.where(use_bounds, space_high, np.where(finite, np.minimum(hi, space_high), hi))
    return lo.astype(np.float64), hi.astype(np.float64)


def activation_range(values: np.ndarray, method: RangeMethod = "minmax",
                     percentile: float = 99.99, levels: int = 255) -> float:
    """Largest magnitude an activation tensor must represent (scalar, > 0).

    ``mse`` picks the clip (a fraction of the maximum) that minimizes the squared error of
    quantizing ``values`` to ``levels`` steps: at 2-4 bits a tight range with saturated
    outliers beats coarse steps everywhere.
    """
    mags = np.abs(values).ravel()
    if method == "minmax":
        return max(float(mags.max()), 1e-6)
    if method == "percentile":
        return max(float(np.percentile(mags, percentile)), 1e-6)
    if method != "mse":
        raise ConfigError(f"unknown range method '{method}' (minmax, percentile or mse)")
    sample = mags if mags.size <= 200_000 else np.random.default_rng(0).choice(mags, 200_000)
    top = max(float(sample.max()), 1e-6)
    best, best_err = top, np.inf
    for ratio in np.linspace(0.05, 1.0, 40):
        step = ratio * top / levels
        q = np.minimum(np.floor(sample / step + 0.5), levels) * step
        err = float(np.mean((q - sample) ** 2))
        if err < best_err:
            best, best_err = ratio * top, err
    return best
