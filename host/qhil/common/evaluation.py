"""Deterministic episode evaluation on fixed seeds, and the paired float comparison.

Episode ``i`` of an evaluation on seeds ``A..B`` is reset with ``seed=A + i``, so every
policy (float, golden integer, device) sees the same initial states. Which seeds may be
used for what is the protocol of :mod:`qhil.common.protocol` (docs/evaluation.md).
"""

from __future__ import annotations

import dataclasses
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
           "float_test", "BOOTSTRAP_RESAMPLES", "paired_difference", "bootstrap_draws"]

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
    """% of float of the mean returns (``nan`` where it is undefined: the float mean's
    interval contains 0)"""
    interval: tuple[float, float]
    """95 % paired bootstrap interval of ``percent`` (seeds resampled, both policies together)"""
    episodes: int
    early_terminations: int
    float_early_terminations: int
    difference: float = 0.0
    """mean return minus the float's, on the same seeds"""
    difference_interval: tuple[float, float] = (0.0, 0.0)
    """its 95 % paired bootstrap interval (the same draws)"""
    float_interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of the float mean (the same draws)"""

    @property
    def defined(self) -> bool:
        """% of float means something: the float mean is told apart from 0."""
        lo, hi = self.float_interval
        return not lo <= 0.0 <= hi

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "percent_of_float": self.percent if self.defined else None,
            "interval95": list(self.interval) if self.defined else None,
            "episodes": self.episodes, "early_terminations": self.early_terminations,
            "float_early_terminations": self.float_early_terminations,
            "return_difference": self.difference,
            "return_difference_interval95": list(self.difference_interval)}
        if not self.defined:
            out["percent_of_float_undefined"] = self.undefined_reason
        return out

    @property
    def undefined_reason(self) -> str:
        lo, hi = self.float_interval
        return (f"the float mean's 95 % interval ({lo:.4g} to {hi:.4g}) contains 0: % of float "
                "is undefined; compare the paired return difference")

    def __str__(self) -> str:
        tail = (f"{self.episodes} episodes), early terminations {self.early_terminations} vs "
                f"float {self.float_early_terminations}")
        if not self.defined:
            lo, hi = self.difference_interval
            return (f"return {self.difference:+.4g} vs float (95% CI {lo:+.4g} to {hi:+.4g}, "
                    f"{tail}; % of float undefined: the float mean's interval contains 0")
        lo, hi = self.interval
        return f"{self.percent:.1f}% of float (95% CI {lo:.1f}-{hi:.1f}, {tail}"


def bootstrap_draws(n: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> np.ndarray:
    """The resampled episode indices every paired interval uses: ``(resamples, n)``."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _interval(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def paired_difference(a: np.ndarray, b: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                      seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Mean of ``a - b`` (returns on the same seeds, in seed order) and its 95 % paired
    bootstrap interval: whether two policies can be told apart."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.size == 0:
        raise ConfigError(f"a paired difference needs returns on the same seeds ({a.size} vs {b.size})")
    idx = bootstrap_draws(a.size, resamples, seed)
    return float(np.mean(a - b)), _interval((a - b)[idx].mean(axis=1))


def compare_paired(quantized: EvalResult, float_: EvalResult,
                   resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Comparison:
    """% of float with a 95 % paired bootstrap interval, and the return difference with its
    own.

    Each resample draws ``n`` seeds with replacement and takes the ratio of the two
    policies' mean returns over the drawn seeds (the same draw for both, so the shared
    difficulty of a seed cancels); the interval is the 2.5th and 97.5th percentile. When
    the float mean's interval (the same draws) contains 0, % of float is undefined
    (``nan``) and the return difference is what compares the two.

    :raises ConfigError: when the two results are not on the same seeds
    """
    if quantized.seeds != float_.seeds:
        raise ConfigError(f"a paired comparison needs the same seeds: {quantized.seeds} vs "
                          f"{float_.seeds}")
    q, f = quantized.returns.astype(float), float_.returns.astype(float)
    idx = bootstrap_draws(q.size, resamples, seed)
    q_means, f_means = q[idx].mean(axis=1), f[idx].mean(axis=1)
    boot = np.nan_to_num(_percent(q_means, f_means), nan=0.0, posinf=np.finfo(float).max)
    float_interval = _interval(f_means)
    comparison = Comparison(percent_of_float(float(q.mean()), float(f.mean())), _interval(boot),
                            int(q.size), quantized.early_terminations,
                            float_.early_terminations, float(np.mean(q - f)),
                            _interval(q_means - f_means), float_interval)
    if not comparison.defined:
        nan = float("nan")
        comparison = dataclasses.replace(comparison, percent=nan, interval=(nan, nan))
    return comparison


def float_test(model: ModelDir, episodes: int = TEST_EPISODES) -> EvalResult:
    """The float actor on the first ``episodes`` test seeds: recorded in ``meta.json``
    (``eval``) when it was measured on exactly those seeds, else measured now."""
    seeds = split_seeds(Split.TEST, episodes)
    recorded = model.meta.get("eval", {})
    if recorded.get("seeds") == str(seeds) and "terminated" in recorded:
        return EvalResult.from_dict(recorded)
    return evaluate_policy(model.actor, model.env_id, seeds, Split.TEST)
