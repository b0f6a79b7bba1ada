"""Quantization-aware training: distillation on the student's own states (DAgger), then
optionally RL fine-tuning of the same student with TD3 (:mod:`qhil.train.qat_rl`).

Docs: docs/quantization.md (what is simulated). Results: BENCHMARKS.md#quantization-aware-training.

Read top to bottom: ``QATArgs`` -> ``qat()``. The student is a
:class:`~qhil.quant.fakequant.FakeQuantActor`: its forward pass rounds exactly where the
device does (same input codes, per-channel weight codes, int32 biases, the very m/2**n
multipliers, tanh table), with straight-through gradients. It learns to reproduce the
float teacher's output on the states it visits itself, which PTQ never sees: the
quantized policy drifts, and DAgger puts those states into the training set. Candidates
are chosen on validation seeds (10000..), then the exported blob is evaluated on the test
seeds (0..19) and checked against the simulation on every collected state.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qhil.common.evaluation import evaluate_policy, percent_of_float
from qhil.common.model_dir import ModelDir
from qhil.common.provenance import package_versions
from qhil.quant.blob import blob_id, write_blob
from qhil.quant.config import BitConfig
from qhil.quant.fakequant import FakeQuantActor
from qhil.quant.golden import GoldenExecutor
from qhil.quant.pipeline import Calibrator
from qhil.quant.policy import QuantPolicy, quantize_obs
from qhil.quant.qmodel import QuantModel
from qhil.train.qat_rl import RLArgs, rl_finetune
from qhil.train.train import VALIDATION_SEED

__all__ = ["QATArgs", "QATResult", "qat", "save_qat", "ROLLOUT_SEED"]

LOG = logging.getLogger(__name__)
ROLLOUT_SEED = 30_000  # DAgger rollouts: disjoint from test, validation and calibration seeds


@dataclass
class QATArgs:
    bits: BitConfig
    """per-layer widths of the student"""
    iterations: int = 12
    """DAgger iterations (train, validate, collect)"""
    grad_steps: int = 300
    """gradient steps per iteration"""
    batch_size: int = 256
    """states per gradient step"""
    lr: float = 1e-3
    """Adam learning rate"""
    rollouts: int = 4
    """student episodes collected per iteration"""
    val_episodes: int = 10
    """validation episodes per iteration (seeds 10000..); few episodes select erratic policies"""
    test_episodes: int = 20
    """final evaluation of the chosen export (seeds 0..)"""
    max_states: int = 200_000
    """cap on the aggregated dataset (oldest states dropped first)"""
    seed: int = 0
    """torch and sampling seed"""
    rl_steps: int = 0
    """mode (b): env steps of TD3 fine-tuning after distillation (0: distillation only)"""
    rl: RLArgs = field(default_factory=RLArgs)
    """TD3 fine-tuning settings (critic warm-up, learning rate, validation interval)"""


@dataclass
class QATResult:
    model: QuantModel
    ptq_val_return: float
    best_val_return: float
    test: dict[str, Any]
    agreement: float
    curve: list[tuple[int, float]] = field(default_factory=list)
    wall_time_s: float = 0.0


def _teacher_targets(model: ModelDir, obs: np.ndarray) -> np.ndarray:
    """The float policy's output in policy units (tanh(y), or y for linear outputs)."""
    return model.actor.squashed(obs).astype(np.float32)


def _collect(policy: QuantPolicy, env_id: str, episodes: int, seed: int) -> np.ndarray:
    from qhil.common.envs import make_env

    env = make_env(env_id)
    states = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            done = False
            while not done:
                states.append(np.asarray(obs, dtype=np.float64))
                obs, _, terminated, truncated, _ = env.step(policy.act(obs))
                done = terminated or truncated
    finally:
        env.close()
    return np.stack(states)


# --------------------------------------------------------------------------------------
# ALGO LOGIC
# --------------------------------------------------------------------------------------
def qat(model: ModelDir, args: QATArgs, calibrator: Calibrator | None = None,
        progress: Any = None) -> QATResult:
    """Distill the float policy into an integer policy of widths ``args.bits``."""
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    torch.set_num_threads(1)
    calibrator = calibrator or Calibrator(model)
    params = calibrator.params(args.bits)
    student = FakeQuantActor(model.actor, params, args.bits, torch.float32)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)

    def export() -> QuantModel:
        q = student.export(model.env_id)
        q.meta.update(method="qat-dagger", source=str(model.path))
        return q

    def validate(q: QuantModel) -> float:
        return evaluate_policy(QuantPolicy(q).act, model.env_id, args.val_episodes,
                               VALIDATION_SEED).mean

    states = calibrator.observations.copy()  # start from the teacher's noisy rollouts
    best_model = export()
    best_state = copy.deepcopy(student.state_dict())
    ptq_val = best_val = validate(best_model)
    curve = [(0, ptq_val)]
    for it in range(1, args.iterations + 1):
        targets = _teacher_targets(model, states)
        obs_t = torch.tensor(states, dtype=torch.float32)
        tgt_t = torch.tensor(targets, dtype=torch.float32)
        for _ in range(args.grad_steps):
            idx = torch.from_numpy(rng.integers(0, len(states), args.batch_size))
            loss = torch.mean((student(obs_t[idx]) - tgt_t[idx]) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        candidate = export()
        val = validate(candidate)
        curve.append((it, val))
        if val >= best_val:
            best_val, best_model = val, candidate
            best_state = copy.deepcopy(student.state_dict())
        # DAgger: label the states the current quantized student visits.
        new = _collect(QuantPolicy(candidate), model.env_id, args.rollouts,
                       ROLLOUT_SEED + 100 * it)
        states = np.concatenate([states, new])[-args.max_states:]
        if progress is not None:
            progress(it, float(loss.detach()), val, best_val)
        LOG.debug("iteration %d: loss %.5f, validation %.1f (best %.1f)", it,
                  float(loss.detach()), val, best_val)

    if args.rl_steps:
        # Mode (b): TD3 fine-tunes the best distilled student on the env's own reward.
        student.load_state_dict(best_state)
        student.train()

        def on_eval(step: int) -> None:
            nonlocal best_val, best_model, best_state
            candidate = export()
            candidate.meta.update(method="qat-dagger+rl")
            val = validate(candidate)
            curve.append((args.iterations + step, val))
            if val > best_val:
                best_val, best_model = val, candidate
                best_state = copy.deepcopy(student.state_dict())
            if progress is not None:
                progress(args.iterations + step // args.rl.eval_every, float("nan"), val,
                         best_val)

        rl_finetune(model, student, dataclasses.replace(args.rl, steps=args.rl_steps,
                                                        seed=args.seed), on_eval)

    test = evaluate_policy(QuantPolicy(best_model).act, model.env_id, args.test_episodes, 0)
    sim = FakeQuantActor(model.actor, params, args.bits, torch.float64)
    sim.load_state_dict({k: v.double() for k, v in best_state.items()})
    agreement = _agreement(best_model, sim, states)
    return QATResult(best_model, ptq_val, best_val, test.as_dict(), agreement, curve,
                     time.perf_counter() - start)


def _agreement(q: QuantModel, sim: FakeQuantActor, states: np.ndarray) -> float:
    """Fraction of visited states on which the exported blob's golden actions equal the
    simulation's: the graph that was trained must be what the device runs."""
    golden = GoldenExecutor(q).action_codes(quantize_obs(q, states))
    with torch.no_grad():
        codes = sim.action_codes(torch.tensor(states, dtype=torch.float64)).numpy()
    return float(np.mean(np.all(codes == golden, axis=-1)))


def save_qat(result: QATResult, model: ModelDir, args: QATArgs, out: Path) -> dict[str, Any]:
    """Write the export to ``out`` (.qhil) and its provenance beside it (.json)."""
    data = write_blob(result.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    float_mean = model.meta.get("eval", {}).get("mean")
    pct = percent_of_float(result.test["mean"], float_mean) if float_mean is not None else None
    recorded = dataclasses.asdict(args) | {"bits": str(args.bits)}
    sidecar = {"bits": str(args.bits),
               "method": "qat-dagger+rl" if args.rl_steps else "qat-dagger",
               "source": str(model.path),
               "model_id": f"0x{blob_id(data):08x}", "blob_bytes": len(data),
               "weight_bytes": result.model.weight_bytes, "args": recorded,
               "ptq_validation_return": result.ptq_val_return,
               "best_validation_return": result.best_val_return,
               "validation_curve": result.curve, "test": result.test,
               "float_test_return": float_mean, "percent_of_float": pct,
               "agreement_with_simulation": result.agreement,
               "wall_time_s": round(result.wall_time_s, 1), "versions": package_versions()}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar
