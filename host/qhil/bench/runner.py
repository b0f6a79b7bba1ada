"""The closed loop: the host steps the env, the device acts, every answer is checked.

Every variant sees the same episodes (episode i resets with seed + i). For integer
variants the host quantizes each observation into input codes (the ADC), the device
answers with action codes, and at the end of the episode the golden executor computes
every step in one batch: any difference is recorded with its step and inputs and fails
the run. Float-on-device
answers are compared with the host's float32 forward pass (libm's tanhf may differ in
the last bits, so that check has a tolerance instead).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from qhil.bench.variants import Variant
from qhil.common.actor import FloatActor
from qhil.common.errors import QhilError
from qhil.quant.golden import GoldenExecutor
from qhil.quant.policy import ActionDecoder, ObservationQuantizer

__all__ = ["EpisodeResult", "VariantResult", "run_episode", "F32_TOLERANCE"]

LOG = logging.getLogger(__name__)
F32_TOLERANCE = 1e-4
MAX_MISMATCH_RECORDS = 20


@dataclass
class EpisodeResult:
    """One episode of one variant: what the run store writes, and what reports are built from."""

    variant: str
    seed: int
    noise: float
    ret: float = 0.0
    steps: int = 0
    terminated: bool = False  # ended before the time limit (a fall): docs/evaluation.md
    rtt_s: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    mismatch_count: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    f32_max_error: float = 0.0
    input_saturations: int = 0
    env_s: float = 0.0  # time spent in env.step (host overhead = wall - env - round trips)
    model_id: int | None = None
    arena_bytes: int | None = None  # device RAM the model took: blob plus kernel copies
    # quantized vs float action on the states the quantized policy visited, in units of
    # the action half-range: squared-error sum, max abs error, components of opposite sign
    action_error: dict[str, float] = field(default_factory=dict)
    # each layer's on-device cost for the episode's first observation (integer variants)
    layer_costs: list[float] = field(default_factory=list)
    link: dict[str, int] = field(default_factory=dict)  # link counters during the episode
    incidents: list[dict[str, Any]] = field(default_factory=list)  # device repairs

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EpisodeResult:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class VariantResult:
    """All episodes of a variant (every noise level)."""

    variant: Variant
    episodes: list[EpisodeResult] = field(default_factory=list)

    @property
    def mismatch_count(self) -> int:
        return sum(e.mismatch_count for e in self.episodes)

    @property
    def mismatches(self) -> list[dict[str, Any]]:
        return [m for e in self.episodes for m in e.mismatches][:MAX_MISMATCH_RECORDS]

    @property
    def f32_max_error(self) -> float:
        return max((e.f32_max_error for e in self.episodes), default=0.0)

    @property
    def model_id(self) -> int | None:
        return next((e.model_id for e in self.episodes if e.model_id is not None), None)


class Device(Protocol):
    """What an episode needs from a device (a :class:`~qhil.bench.session.DeviceSession`)."""

    def infer(self, codes: np.ndarray) -> tuple[np.ndarray, int]: ...

    def infer_f32(self, z: np.ndarray) -> tuple[np.ndarray, int]: ...

    def layer_costs(self, codes: np.ndarray) -> tuple[list[int], np.ndarray]: ...


def run_episode(variant: Variant, actor: FloatActor, env: gym.Env[Any, Any], seed: int,
                device: Device | None, *, noise: float = 0.0, cost_scale: float = 1.0,
                golden: GoldenExecutor | None = None) -> EpisodeResult:
    """Run one closed-loop episode of ``variant`` from ``env.reset(seed=seed)``.

    :param device: the loaded device, for device variants
    :param noise: Gaussian observation noise std, relative to each feature's calibration
        scale (robustness runs; 0 for none). The same noise sequence for every variant.
    :param cost_scale: raw device counter -> its unit (cycles, instructions or ns)
    :param golden: the golden executor of ``variant.qmodel`` (built here if not given)
    """
    qm = variant.qmodel
    if qm is not None and golden is None:
        golden = GoldenExecutor(qm)
    adc = ObservationQuantizer(qm) if qm is not None else None
    dac = ActionDecoder(qm) if qm is not None else None
    inputs: list[np.ndarray] = []  # integer variants: every step's codes, checked in a batch
    answers: list[np.ndarray] = []
    seen_obs: list[np.ndarray] = []  # what the integer policy saw, for its float counterpart
    obs_scale = np.maximum(np.abs(actor.obs_std), 1e-6)
    rng = np.random.default_rng([seed, 7919])
    obs, _ = env.reset(seed=seed)
    ep = EpisodeResult(variant.name, seed, noise)
    done = False
    while not done:
        seen = obs + noise * obs_scale * rng.standard_normal(obs.shape) if noise else obs
        if not np.isfinite(seen).all():
            raise QhilError(f"{variant.name}: the env returned a NaN/inf observation at seed "
                            f"{seed} step {ep.steps}; episodes finished so far are saved")
        if variant.kind == "host-float":
            t0 = time.perf_counter()
            action = actor.act(seen)
            ep.rtt_s.append(time.perf_counter() - t0)
        elif variant.kind == "device-f32":
            assert device is not None
            z = actor.normalize(seen).astype(np.float32)
            t0 = time.perf_counter()
            y, raw = device.infer_f32(z)
            ep.rtt_s.append(time.perf_counter() - t0)
            ep.cost.append(raw * cost_scale)
            ep.f32_max_error = max(ep.f32_max_error,
                                   float(np.abs(y - _host_f32(actor, z)).max()))
            action = actor.unsquash(y)
        else:
            assert device is not None and adc is not None and dac is not None
            x = adc(seen)
            if not ep.layer_costs:  # outside the timed request: a LAYERS request of its own
                ep.layer_costs = [c * cost_scale for c in device.layer_costs(x)[0]]
            t0 = time.perf_counter()
            codes, raw = device.infer(x)
            ep.rtt_s.append(time.perf_counter() - t0)
            ep.cost.append(raw * cost_scale)
            inputs.append(x)
            answers.append(codes)
            seen_obs.append(seen)
            action = dac(codes)
        t0 = time.perf_counter()
        obs, reward, terminated, truncated, _ = env.step(action)
        ep.env_s += time.perf_counter() - t0
        ep.ret += float(reward)
        ep.steps += 1
        done = terminated or truncated
    ep.terminated = bool(terminated)
    if inputs:
        assert golden is not None and qm is not None
        _check_bit_exact(ep, golden, np.stack(inputs), np.stack(answers))
        ep.input_saturations = int(np.count_nonzero(np.abs(np.stack(inputs)) == qm.in_limit))
        assert dac is not None
        ep.action_error = _action_error(actor, np.stack(seen_obs), dac(np.stack(answers)))
    return ep


def _action_error(actor: FloatActor, obs: np.ndarray, actions: np.ndarray) -> dict[str, float]:
    """The float policy's actions on the same observations against ``actions``, both in
    units of the action half-range around its centre."""
    mid = 0.5 * (actor.action_high + actor.action_low)
    half = np.maximum(0.5 * (actor.action_high - actor.action_low), 1e-12)
    f = (actor.act(obs) - mid) / half
    q = (actions - mid) / half
    err = q - f
    return {"sum_sq": float(np.sum(err ** 2)), "count": int(err.size),
            "max": float(np.max(np.abs(err))) if err.size else 0.0,
            "sign_flips": int(np.count_nonzero(np.sign(f) * np.sign(q) < 0))}


def _check_bit_exact(ep: EpisodeResult, golden: GoldenExecutor, x: np.ndarray,
                     device: np.ndarray) -> None:
    """Compare every step's device answer with the golden executor, in one batch (the
    per-step call cost more than the device round trip on fast targets)."""
    expected = golden.action_codes(x)
    bad = np.flatnonzero(~np.all(device == expected, axis=1))
    ep.mismatch_count = int(bad.size)
    for step in bad[:MAX_MISMATCH_RECORDS]:
        ep.mismatches.append({"seed": ep.seed, "step": int(step),
                              "input_codes": x[step].tolist(),
                              "device": device[step].tolist(),
                              "golden": expected[step].tolist()})
    if bad.size:
        LOG.error("%s: %d device answers differ from the golden executor in episode seed %d "
                  "(first at step %d)", ep.variant, bad.size, ep.seed, int(bad[0]))


def _host_f32(actor: FloatActor, z: np.ndarray) -> np.ndarray:
    h = z.astype(np.float32)
    last = len(actor.weights) - 1
    for i, (w, b) in enumerate(zip(actor.weights, actor.biases, strict=True)):
        h = w.astype(np.float32) @ h + b.astype(np.float32)
        if i < last:
            h = np.maximum(h, np.float32(0))
    return np.tanh(h) if actor.output == "tanh" else h
