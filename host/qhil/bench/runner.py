"""The closed loop of a bench: the host steps the env, the policy under test acts (on the
host or the device), and every answer is checked when the episode ends.

Every policy sees the same episodes (episode i resets with seed + i) through the one
episode loop of :mod:`qhil.common.episode`; what is checked, and how, belongs to the
policy's kind (:mod:`qhil.bench.policies`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from qhil.bench.policies import DeviceLink, EpisodeContext, PolicyUnderTest
from qhil.bench.results import MAX_MISMATCH_RECORDS, EpisodeResult
from qhil.bench.timing import LatencyModel
from qhil.common.actor import FloatActor
from qhil.common.episode import NonFiniteObservation, run_episode
from qhil.common.errors import QhilError
from qhil.common.timing import Plant, StepTiming

__all__ = ["VariantResult", "run_bench_episode"]


@dataclass
class VariantResult:
    """All episodes of a policy under test (every noise level)."""

    variant: PolicyUnderTest
    episodes: list[EpisodeResult] = field(default_factory=list)

    @property
    def mismatch_count(self) -> int:
        return sum(e.mismatch_count for e in self.episodes)

    @property
    def mismatches(self) -> list[dict[str, Any]]:
        return [m for e in self.episodes for m in e.mismatches][:MAX_MISMATCH_RECORDS]

    @property
    def model_id(self) -> int | None:
        return next((e.model_id for e in self.episodes if e.model_id is not None), None)


def run_bench_episode(policy: PolicyUnderTest, actor: FloatActor, env: gym.Env[Any, Any],
                      seed: int, device: DeviceLink | None, *, noise: float = 0.0,
                      cost_scale: float = 1.0, plant: Plant | None = None,
                      latency: LatencyModel | None = None) -> EpisodeResult:
    """Run one closed-loop episode of ``policy`` from ``env.reset(seed=seed)``.

    :param device: the loaded device, for device policies
    :param noise: Gaussian observation noise std, relative to each feature's std
        (robustness runs; 0 for none); the same draws for every policy
    :param cost_scale: raw device counter -> its unit (cycles, instructions or ns)
    :param plant: time in the loop: each action lands after ``latency`` of the device's
        count for its inference (:mod:`qhil.common.timing`)
    """
    record = EpisodeResult(policy.name, seed, noise)
    acting = policy.episode(EpisodeContext(actor, device, cost_scale, record))
    ticks: list[StepTiming] = []

    def seconds() -> float:
        assert latency is not None and record.cost, "a timed device variant"
        return latency.seconds(record.cost[-1])

    try:
        ep = run_episode(acting, env, seed, noise=noise,
                         noise_scale=np.maximum(np.abs(actor.obs_std), 1e-6), plant=plant,
                         latency=seconds if plant is not None else None,
                         on_timing=ticks.append)
    except NonFiniteObservation as exc:
        raise QhilError(f"{policy.name}: {exc}; episodes finished so far are saved") from None
    record.ret, record.steps, record.terminated, record.env_s = (ep.ret, ep.steps,
                                                                 ep.terminated, ep.env_s)
    record.metrics = dict(ep.metrics)
    if ticks:
        lat = np.asarray([t.latency_s for t in ticks]) * 1e6
        delay = np.asarray([t.delay_steps for t in ticks])
        record.timing = {"inferences": len(ticks), "misses": int(sum(t.misses for t in ticks)),
                         "latency_us": [float(lat.min()), float(np.median(lat)), float(lat.max())],
                         "delay_steps": [int(delay.min()), float(np.median(delay)),
                                         int(delay.max())]}
    acting.finish()
    return record
