"""Deterministic episode evaluation on fixed seeds.

Episode ``i`` of an evaluation with base seed ``s`` is reset with ``seed=s + i``, so every
policy (float, golden integer, device) sees the same initial states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from qhil.common.envs import make_env
from qhil.common.errors import ConfigError

__all__ = ["EvalResult", "evaluate_policy", "percent_of_float"]

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class EvalResult:
    returns: np.ndarray
    lengths: np.ndarray
    seed: int

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def as_dict(self) -> dict[str, object]:
        return {
            "episodes": int(self.returns.size),
            "seed": self.seed,
            "mean": self.mean,
            "std": self.std,
            "returns": [float(r) for r in self.returns],
            "lengths": [int(n) for n in self.lengths],
        }


def evaluate_policy(
    policy: Policy,
    env_id: str,
    episodes: int = 20,
    seed: int = 0,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> EvalResult:
    """Run ``episodes`` deterministic episodes of ``policy`` (obs -> action) on ``env_id``.

    :param policy: maps one observation ``[obs_dim]`` to one action ``[act_dim]``
    :param episodes: number of episodes (> 0)
    :param seed: base seed; episode ``i`` resets with ``seed + i``
    :param progress: optional wrapper around the episode iterator (e.g. ``tqdm``)
    """
    if episodes <= 0:
        raise ConfigError(f"episodes must be positive, got {episodes}")
    env = make_env(env_id)
    returns, lengths = [], []
    it: Iterable[int] = range(episodes)
    if progress is not None:
        it = progress(it)
    try:
        for i in it:
            obs, _ = env.reset(seed=seed + i)
            total, n, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy(obs))
                total += float(reward)
                n += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(n)
    finally:
        env.close()
    return EvalResult(np.asarray(returns), np.asarray(lengths), seed)


def percent_of_float(quantized: float, float_: float) -> float:
    """Quantized return as % of float on the same seeds; 100 is parity, lower is worse.

    ``100 * q / f`` when the float return is positive; ``100 * f / q`` when both are
    negative (Pendulum), so a quantized return twice as costly reads 50%. A non-negative
    quantized return against a negative float return is better than parity: ``inf``.
    A zero float return has no meaningful ratio: ``nan``.
    """
    if float_ > 0:
        return 100.0 * quantized / float_
    if float_ < 0:
        return 100.0 * float_ / quantized if quantized < 0 else float("inf")
    return float("nan")
