"""Deterministic episode evaluation on fixed seeds, and the paired float comparison.

Episode ``i`` of an evaluation on seeds ``A..B`` is reset with ``seed=A + i``, so every
policy (float, golden integer, device) sees the same initial states. Which seeds may be
used for what is the protocol of :mod:`qhil.common.protocol` (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qhil.common.envs import make_env
from qhil.common.episode import Policy, run_episode
from qhil.common.errors import ConfigError
from qhil.common.model_dir import ModelDir
from qhil.common.protocol import TEST_EPISODES, SeedRange, Split, check_seeds, split_seeds

__all__ = ["EvalResult", "Comparison", "evaluate_policy", "percent_of_float", "compare_paired",
           "float_test", "BOOTSTRAP_RESAMPLES"]

#: Resamples of the paired bootstrap; its generator is seeded, so intervals repeat exactly.
BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class EvalResult:
    """Per-episode outcome of one policy on ``seeds`` (arrays in seed order)."""

    returns: np.ndarray
    lengths: np.ndarray
    terminated: np.ndarray
    """True where the episode ended before its time limit (a fall, a crash)"""
    seeds: SeedRange

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    @property
    def early_terminations(self) -> int:
        return int(np.count_nonzero(self.terminated))

    def as_dict(self) -> dict[str, object]:
        return {
            "episodes": int(self.returns.size),
            "seeds": str(self.seeds),
            "mean": self.mean,
            "std": self.std,
            "early_terminations": self.early_terminations,
            "returns": [float(r) for r in self.returns],
            "lengths": [int(n) for n in self.lengths],
            "terminated": [bool(t) for t in self.terminated],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        """The inverse of :meth:`as_dict`."""
        return cls(np.asarray(data["returns"], float), np.asarray(data["lengths"], int),
                   np.asarray(data["terminated"], bool), SeedRange.parse(str(data["seeds"])))


def evaluate_policy(
    policy: Policy,
    env_id: str,
    seeds: SeedRange,
    purpose: Split | None,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
    obs_noise: float = 0.0,
    obs_scale: np.ndarray | None = None,
) -> EvalResult:
    """Run one deterministic episode of ``policy`` per seed of ``seeds``.

    :param policy: anything with ``act(obs) -> action`` (:class:`~qhil.common.episode.Policy`)
    :param seeds: the episodes' reset seeds
    :param purpose: the split the episodes serve; seeds outside it are refused
        (:class:`~qhil.common.protocol.ProtocolError`). ``None`` only for a re-measurement
        on seeds the user chose (``qhil eval --seeds``), which decides nothing.
    :param progress: optional wrapper around the episode iterator (e.g. ``tqdm``)
    :param obs_noise: Gaussian noise on what the policy sees (not the env's state), std
        ``obs_noise * obs_scale`` per feature; the draws of :func:`~qhil.common.episode.
        run_episode`, the very sequence ``qhil bench --noise`` uses, so policies compared on
        the same seeds get the same draws
    :param obs_scale: per-feature noise scale (the actor's observation std)
    """
    if purpose is not None:
        check_seeds(seeds, purpose)
    if obs_noise and obs_scale is None:
        raise ValueError("observation noise needs a per-feature scale")
    env = make_env(env_id)
    episodes = []
    it: Iterable[int] = seeds
    if progress is not None:
        it = progress(it)
    try:
        for seed in it:
            episodes.append(run_episode(policy, env, seed, noise=obs_noise, noise_scale=obs_scale))
    finally:
        env.close()
    return EvalResult(np.asarray([e.ret for e in episodes]),
                      np.asarray([e.steps for e in episodes]),
                      np.asarray([e.terminated for e in episodes], bool), seeds)


def percent_of_float(quantized: float, float_: float) -> float:
    """Quantized return as % of float on the same seeds; 100 is parity, lower is worse.

    ``100 * q / f`` when the float return is positive; ``100 * f / q`` when both are
    negative (Pendulum), so a quantized return twice as costly reads 50%. A non-negative
    quantized return against a negative float return is better than parity: ``inf``.
    A zero float return has no meaningful ratio: ``nan``.
    """
    return float(_percent(np.asarray(quantized, float), np.asarray(float_, float)))


def _percent(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        neg = np.where(q < 0, 100.0 * f / q, np.inf)
        return np.where(f > 0, 100.0 * q / f, np.where(f < 0, neg, np.nan))


@dataclass(frozen=True)
class Comparison:
    """A quantized policy against the float one on the same seeds (docs/evaluation.md)."""

    percent: float
    """% of float of the mean returns"""
    interval: tuple[float, float]
    """95 % paired bootstrap interval of ``percent`` (seeds resampled, both policies together)"""
    episodes: int
    early_terminations: int
    float_early_terminations: int

    def as_dict(self) -> dict[str, object]:
        return {"percent_of_float": self.percent, "interval95": list(self.interval),
                "episodes": self.episodes, "early_terminations": self.early_terminations,
                "float_early_terminations": self.float_early_terminations}

    def __str__(self) -> str:
        lo, hi = self.interval
        return (f"{self.percent:.1f}% of float (95% CI {lo:.1f}-{hi:.1f}, {self.episodes} "
                f"episodes), early terminations {self.early_terminations} vs float "
                f"{self.float_early_terminations}")


def compare_paired(quantized: EvalResult, float_: EvalResult,
                   resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Comparison:
    """% of float with a 95 % paired bootstrap interval.

    Each resample draws ``n`` seeds with replacement and takes the ratio of the two
    policies' mean returns over the drawn seeds (the same draw for both, so the shared
    difficulty of a seed cancels); the interval is the 2.5th and 97.5th percentile.

    :raises ConfigError: when the two results are not on the same seeds
    """
    if quantized.seeds != float_.seeds:
        raise ConfigError(f"a paired comparison needs the same seeds: {quantized.seeds} vs "
                          f"{float_.seeds}")
    q, f = quantized.returns.astype(float), float_.returns.astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, q.size, size=(resamples, q.size))
    boot = _percent(q[idx].mean(axis=1), f[idx].mean(axis=1))
    boot = np.nan_to_num(boot, nan=0.0, posinf=np.finfo(float).max)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return Comparison(percent_of_float(float(q.mean()), float(f.mean())), (float(lo), float(hi)),
                      int(q.size), quantized.early_terminations, float_.early_terminations)


def float_test(model: ModelDir, episodes: int = TEST_EPISODES) -> EvalResult:
    """The float actor on the first ``episodes`` test seeds: recorded in ``meta.json``
    (``eval``) when it was measured on exactly those seeds, else measured now."""
    seeds = split_seeds(Split.TEST, episodes)
    recorded = model.meta.get("eval", {})
    if recorded.get("seeds") == str(seeds) and "terminated" in recorded:
        return EvalResult.from_dict(recorded)
    return evaluate_policy(model.actor, model.env_id, seeds, Split.TEST)
