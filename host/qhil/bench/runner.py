"""The closed loop: the host steps the env, the device acts, every answer is checked.

Every variant sees the same episodes (episode i resets with seed + i). For integer
variants the host quantizes each observation into input codes (the ADC), the device
answers with action codes, and the golden executor computes the same step: any
difference is recorded with the step and its inputs and fails the run. Float-on-device
answers are compared with the host's float32 forward pass (libm's tanhf may differ in
the last bits, so that check has a tolerance instead).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qhil.bench.variants import Variant
from qhil.common.actor import FloatActor
from qhil.common.envs import make_env
from qhil.link.device import Device
from qhil.quant.golden import GoldenExecutor
from qhil.quant.policy import dequantize_action, quantize_obs

__all__ = ["EpisodeResult", "VariantResult", "run_variant", "F32_TOLERANCE"]

LOG = logging.getLogger(__name__)
F32_TOLERANCE = 1e-4
MAX_MISMATCH_RECORDS = 20


@dataclass
class EpisodeResult:
    seed: int
    ret: float
    steps: int
    rtt_s: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    noise: float = 0.0


@dataclass
class VariantResult:
    variant: Variant
    episodes: list[EpisodeResult] = field(default_factory=list)
    mismatches: list[dict[str, object]] = field(default_factory=list)
    mismatch_count: int = 0
    f32_max_error: float = 0.0
    model_id: int | None = None


def run_variant(variant: Variant, actor: FloatActor, env_id: str, seeds: list[int],
                device: Device | None, noise: float = 0.0,
                on_episode: Callable[[EpisodeResult], None] | None = None) -> VariantResult:
    """Run ``variant`` closed loop on ``seeds``; ``device`` is needed for device variants.

    :param noise: Gaussian observation noise std, relative to each feature's calibration
        scale (robustness runs; 0 for none). The same noise sequence for every variant.
    """
    result = VariantResult(variant)
    golden = GoldenExecutor(variant.qmodel) if variant.qmodel is not None else None
    if variant.on_device:
        assert device is not None
        result.model_id = device.load(variant.blob).model_id
    obs_scale = np.maximum(np.abs(actor.obs_std), 1e-6)
    env = make_env(env_id)
    try:
        for seed in seeds:
            rng = np.random.default_rng([seed, 7919])
            obs, _ = env.reset(seed=seed)
            ep = EpisodeResult(seed, 0.0, 0, noise=noise)
            done = False
            while not done:
                seen = obs + noise * obs_scale * rng.standard_normal(obs.shape) if noise else obs
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
                    ep.cost.append(device.info.cost(raw) if device.info else float(raw))
                    expected = _host_f32(actor, z)
                    result.f32_max_error = max(result.f32_max_error,
                                               float(np.abs(y - expected).max()))
                    action = actor.unsquash(y)
                else:
                    assert device is not None and golden is not None and variant.qmodel
                    x = quantize_obs(variant.qmodel, seen)
                    t0 = time.perf_counter()
                    codes, raw = device.infer(x)
                    ep.rtt_s.append(time.perf_counter() - t0)
                    ep.cost.append(device.info.cost(raw) if device.info else float(raw))
                    expected = golden.action_codes(x)
                    if not np.array_equal(codes, expected):
                        result.mismatch_count += 1
                        if len(result.mismatches) < MAX_MISMATCH_RECORDS:
                            result.mismatches.append({
                                "seed": seed, "step": ep.steps, "input_codes": x.tolist(),
                                "device": codes.tolist(), "golden": expected.tolist()})
                        LOG.error("%s: device answer differs from the golden executor at "
                                  "seed %d step %d", variant.name, seed, ep.steps)
                    action = dequantize_action(variant.qmodel, codes)
                obs, reward, terminated, truncated, _ = env.step(action)
                ep.ret += float(reward)
                ep.steps += 1
                done = terminated or truncated
            result.episodes.append(ep)
            if on_episode is not None:
                on_episode(ep)
    finally:
        env.close()
    return result


def _host_f32(actor: FloatActor, z: np.ndarray) -> np.ndarray:
    h = z.astype(np.float32)
    last = len(actor.weights) - 1
    for i, (w, b) in enumerate(zip(actor.weights, actor.biases, strict=True)):
        h = w.astype(np.float32) @ h + b.astype(np.float32)
        if i < last:
            h = np.maximum(h, np.float32(0))
    return np.tanh(h) if actor.output == "tanh" else h
