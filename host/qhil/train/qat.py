"""Quantization-aware training: distillation on the student's own states (DAgger), then
optionally RL fine-tuning of the same student with TD3 (:mod:`qhil.train.qat_rl`).

Docs: docs/quantization.md (what is simulated), docs/evaluation.md (the recipe and its
seeds). Results: BENCHMARKS.md#quantization-aware-training.

Read top to bottom: ``QATArgs`` -> ``choose_input_bits()`` -> ``qat()``. The student is a
:class:`~qhil.quant.fakequant.FakeQuantActor`: its forward pass rounds exactly where the
device does (same input codes, per-channel weight codes, int32 biases, the very m/2**n
multipliers, tanh table), with straight-through gradients. It learns to reproduce the
float teacher's output on the states it visits itself, which PTQ never sees: the
quantized policy drifts, and DAgger puts those states into the training set; rollouts
with action noise add the states it reaches after a mistake, from which it must learn to
recover. Every choice (input width, iteration) is made on validation seeds; the chosen
export is then evaluated once on the test seeds, paired with the float actor, and checked
against the simulation on every collected state.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qhil.common.envs import make_env
from qhil.common.episode import FunctionPolicy, Step, run_episode
from qhil.common.evaluation import (
    Comparison,
    EvalResult,
    compare_paired,
    evaluate_policy,
    float_test,
    percent_of_float,
)
from qhil.common.model_dir import ModelDir
from qhil.common.protocol import (
    VALIDATION_EPISODES,
    SeedRange,
    Split,
    check_seeds,
    split_seeds,
)
from qhil.common.provenance import cpu_model, package_versions
from qhil.quant.blob import blob_id, write_blob
from qhil.quant.calibrate import CALIBRATION_SEED
from qhil.quant.config import BitConfig
from qhil.quant.fakequant import FakeQuantActor
from qhil.quant.golden import GoldenExecutor
from qhil.quant.pipeline import Calibrator
from qhil.quant.policy import QuantPolicy, quantize_obs
from qhil.quant.qmodel import QuantModel
from qhil.train.qat_rl import rl_finetune
from qhil.train.settings import QATArgs
from qhil.train.widen import student_actor

__all__ = ["QATArgs", "QATResult", "qat", "save_qat", "choose_input_bits", "ROLLOUT_SEED",
           "INPUT_WIDTHS"]

LOG = logging.getLogger(__name__)
ROLLOUT_SEED = 30_000  # DAgger rollouts: in the fit split (docs/evaluation.md)
#: Input widths the recipe chooses from, and the share of the best validation return the
#: chosen (narrowest) one must reach.
INPUT_WIDTHS = (8, 10, 12, 16)
INPUT_TOLERANCE = 0.99


@dataclass
class QATResult:
    model: QuantModel
    ptq_val_return: float
    best_val_return: float
    test: EvalResult
    float_test: EvalResult
    agreement: float
    curve: list[tuple[int, float]] = field(default_factory=list)
    wall_time_s: float = 0.0
    calibration_seeds: str = ""
    #: the finalists' returns on both validation sets and which was kept (``--finalists``)
    selection: list[dict[str, Any]] = field(default_factory=list)

    @functools.cached_property
    def comparison(self) -> Comparison:
        """The export against the float actor on the test seeds (paired, with interval)."""
        return compare_paired(self.test, self.float_test)


def _teacher_targets(model: ModelDir, obs: np.ndarray) -> np.ndarray:
    """The float policy's output in policy units (tanh(y), or y for linear outputs)."""
    return model.actor.squashed(obs).astype(np.float32)


def _collect(policy: QuantPolicy, env_id: str, seeds: SeedRange, noise: float,
             rng: np.random.Generator) -> np.ndarray:
    """States the student visits; with ``noise`` > 0 its actions are perturbed (Gaussian,
    std ``noise`` x the action half-range), so it also visits states off its own path."""
    check_seeds(seeds, Split.FIT)
    env = make_env(env_id)
    low, high = policy.model.action_low, policy.model.action_high
    half = 0.5 * (high - low)
    states: list[np.ndarray] = []

    def student(obs: np.ndarray) -> np.ndarray:
        action = policy.act(obs)
        if noise > 0:
            action = np.clip(action + noise * half * rng.standard_normal(half.shape), low, high)
        return action

    def keep(step: Step) -> None:
        states.append(np.asarray(step.seen, dtype=np.float64))

    try:
        for seed in seeds:
            run_episode(FunctionPolicy(student), env, seed, on_step=keep)
    finally:
        env.close()
    return np.stack(states)


def choose_input_bits(model: ModelDir, calibrator: Calibrator, bits: BitConfig,
                      episodes: int = VALIDATION_EPISODES,
                      widths: tuple[int, ...] = INPUT_WIDTHS) -> tuple[BitConfig, dict[int, float]]:
    """The recipe's input width: the narrowest of ``widths`` whose post-training policy
    (8-bit weights and activations, only the input narrowed) reaches ``INPUT_TOLERANCE`` of
    the best such policy's validation return.

    :return: ``bits`` with that input width, and the validation return of each width
    """
    seeds = split_seeds(Split.VALIDATION, episodes)
    n = bits.n_layers
    returns: dict[int, float] = {}
    for width in widths:
        probe = BitConfig((8,) * n, (8,) * n, width, bits.out_bits)
        policy = QuantPolicy(calibrator.quantize(probe))
        returns[width] = evaluate_policy(policy, model.env_id, seeds, Split.VALIDATION).mean
    best = max(returns.values())
    chosen = next(w for w in widths
                  if percent_of_float(returns[w], best) >= 100 * INPUT_TOLERANCE)
    return dataclasses.replace(bits, in_bits=chosen), returns


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
    start_actor, init = student_actor(model.actor, args.hidden, args.seed)
    # a widened teacher keeps the teacher's activation ranges; fresh weights get their own
    params = calibrator.params(args.bits, start_actor if init == "random" else None)
    student = FakeQuantActor(start_actor, params, args.bits, torch.float32, args.learn_scales)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)
    val_seeds = split_seeds(Split.VALIDATION, args.val_episodes)

    def export() -> QuantModel:
        q = student.export(model.env_id)
        q.meta.update(method="qat-dagger", source=str(model.path), actor_sha256=model.actor_sha256,
                      student_init=init)
        return q

    def validate(q: QuantModel) -> float:
        return evaluate_policy(QuantPolicy(q), model.env_id, val_seeds,
                               Split.VALIDATION).mean

    states = calibrator.observations.copy()  # start from the teacher's noisy rollouts
    best_model = export()
    best_state = copy.deepcopy(student.state_dict())
    ptq_val = best_val = validate(best_model)
    curve = [(0, ptq_val)]
    finalists = _Finalists(args.finalists, args.average_last)
    # RL's exports meet the distilled finalists without taking their places: on 20 episodes
    # a lucky RL step would push out an iteration that 100 episodes prefer (Pendulum did)
    tuned = _Finalists(args.finalists, args.average_last)
    for it in range(1, args.iterations + 1):
        progress_frac = (it - 1) / max(args.iterations - 1, 1)
        lr = args.lr * (args.lr_final + (1 - args.lr_final) * 0.5 *
                        (1 + np.cos(np.pi * progress_frac)))
        for group in optimizer.param_groups:
            group["lr"] = lr
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
        finalists.offer(f"iteration {it}", val, student.state_dict())
        if val >= best_val:
            best_val, best_model = val, candidate
            best_state = copy.deepcopy(student.state_dict())
        # DAgger: label the states the current quantized student visits.
        base = ROLLOUT_SEED + 100 * it
        policy = QuantPolicy(candidate)
        new = [states]
        if args.rollouts:
            new.append(_collect(policy, model.env_id, SeedRange.of(base, args.rollouts), 0.0,
                                rng))
        if args.perturbed_rollouts:
            new.append(_collect(policy, model.env_id,
                                SeedRange.of(base + 50, args.perturbed_rollouts),
                                args.rollout_noise, rng))
        states = np.concatenate(new)[-args.max_states:]
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
            tuned.offer(f"rl step {step}", val, student.state_dict())
            if val > best_val:
                best_val, best_model = val, candidate
                best_state = copy.deepcopy(student.state_dict())
            if progress is not None:
                progress(args.iterations + step // args.rl.eval_every, float("nan"), val,
                         best_val)

        rl_finetune(model, student, dataclasses.replace(args.rl, steps=args.rl_steps,
                                                        seed=args.seed), on_eval)

    selection: list[dict[str, Any]] = []
    if args.finalists:
        # 20 noisy episodes pick the best of 60 by luck too: the finalists meet again on
        # more validation episodes, with the average of the last iterations among them
        long_seeds = split_seeds(Split.VALIDATION, args.select_episodes)
        exports = []
        for name, short, state in finalists.candidates() + tuned.candidates():
            student.load_state_dict(state)
            candidate = export()
            exports.append((candidate, state))
            long = evaluate_policy(QuantPolicy(candidate), model.env_id, long_seeds,
                                   Split.VALIDATION).mean
            selection.append({"candidate": name,
                              "validation_return": validate(candidate) if short is None
                              else short, "selection_return": long, "chosen": False})
        kept = int(np.argmax([c["selection_return"] for c in selection]))
        selection[kept]["chosen"] = True
        best_model, best_state = exports[kept][0], copy.deepcopy(exports[kept][1])
        best_val = selection[kept]["validation_return"]
        LOG.info("finalists on %d validation episodes: %s", args.select_episodes,
                 ", ".join(f"{c['candidate']} {c['selection_return']:.1f}"
                           + (" (kept)" if c["chosen"] else "") for c in selection))
    test = evaluate_policy(QuantPolicy(best_model), model.env_id,
                           split_seeds(Split.TEST, args.test_episodes), Split.TEST)
    float_result = float_test(model, args.test_episodes)
    sim = FakeQuantActor(start_actor, params, args.bits, torch.float64, args.learn_scales)
    sim.load_state_dict({k: v.double() for k, v in best_state.items()})
    agreement = _agreement(best_model, sim, states)
    return QATResult(best_model, ptq_val, best_val, test, float_result, agreement, curve,
                     time.perf_counter() - start,
                     str(SeedRange.of(CALIBRATION_SEED, calibrator.options.calib_episodes)),
                     selection)


class _Finalists:
    """The best ``keep`` states seen (by their short validation return) and the last
    ``average`` ones, whose floating-point tensors are averaged into one more candidate."""

    def __init__(self, keep: int, average: int) -> None:
        self.keep, self.average = keep, average
        self.best: list[tuple[float, str, dict[str, torch.Tensor]]] = []
        self.recent: list[dict[str, torch.Tensor]] = []
        self.recent_names: list[str] = []

    def offer(self, name: str, val: float, state: dict[str, torch.Tensor]) -> None:
        if not self.keep:
            return
        copied = copy.deepcopy(state)
        self.best = sorted(self.best + [(val, name, copied)], key=lambda c: -c[0])[:self.keep]
        if self.average:
            self.recent = (self.recent + [copied])[-self.average:]
            self.recent_names = (self.recent_names + [name])[-self.average:]

    def candidates(self) -> list[tuple[str, float | None, dict[str, torch.Tensor]]]:
        found: list[tuple[str, float | None, dict[str, torch.Tensor]]] = [
            (name, val, state) for val, name, state in self.best]
        if len(self.recent) > 1:
            mean = {k: (torch.stack([s[k] for s in self.recent]).mean(dim=0)
                        if v.is_floating_point() else v)
                    for k, v in self.recent[-1].items()}
            found.append((f"average of {self.recent_names[0]}..{self.recent_names[-1]}",
                          None, mean))
        return found


def _agreement(q: QuantModel, sim: FakeQuantActor, states: np.ndarray) -> float:
    """Fraction of visited states on which the exported blob's golden actions equal the
    simulation's: the graph that was trained must be what the device runs."""
    golden = GoldenExecutor(q).action_codes(quantize_obs(q, states))
    with torch.no_grad():
        codes = sim.action_codes(torch.tensor(states, dtype=torch.float64)).numpy()
    return float(np.mean(np.all(codes == golden, axis=-1)))


def save_qat(result: QATResult, model: ModelDir, args: QATArgs, out: Path,
             input_choice: dict[int, float] | None = None) -> dict[str, Any]:
    """Write the export to ``out`` (.qhil) and its provenance beside it (.json).

    :param input_choice: validation return of each probed input width, when the recipe
        chose the input width (:func:`choose_input_bits`)
    """
    data = write_blob(result.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    comparison = result.comparison
    recorded = dataclasses.asdict(args) | {"bits": str(args.bits)}
    sidecar = {"bits": str(args.bits),
               "method": "qat-dagger+rl" if args.rl_steps else "qat-dagger",
               "source": str(model.path),
               "model_id": f"0x{blob_id(data):08x}", "blob_bytes": len(data),
               "hidden": [layer.n_out for layer in result.model.layers[:-1]],
               "student_init": result.model.meta.get("student_init", "teacher"),
               "weight_bytes": result.model.weight_bytes, "args": recorded,
               "ptq_validation_return": result.ptq_val_return,
               "best_validation_return": result.best_val_return,
               "seeds": {
                   "calibration": result.calibration_seeds,
                   "dagger": f"{ROLLOUT_SEED + 100}..{ROLLOUT_SEED + 100 * args.iterations + 99}",
                   "rl_finetune": "env seed 0" if args.rl_steps else None,
                   "validation": str(split_seeds(Split.VALIDATION, args.val_episodes)),
                   "test": str(result.test.seeds)},
               "input_width_validation": input_choice,
               "validation_curve": result.curve,
               "selection": ({"episodes": args.select_episodes,
                              "seeds": str(split_seeds(Split.VALIDATION, args.select_episodes)),
                              "finalists": result.selection} if result.selection else None),
               "test": result.test.as_dict(),
               "float_test": result.float_test.as_dict(),
               "float_test_return": result.float_test.mean,
               "percent_of_float": comparison.percent, "comparison": comparison.as_dict(),
               "agreement_with_simulation": result.agreement,
               "wall_time_s": round(result.wall_time_s, 1), "versions": package_versions(),
               "machine": {"cpu": cpu_model(),
                           "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar
