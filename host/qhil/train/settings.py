"""The settings of training and QAT (their CLI options are generated from them): kept apart
from the code that runs them, so that building the command line loads neither torch nor
stable-baselines3."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qhil.common.paths import writable_dir
from qhil.common.protocol import TEST_EPISODES, VALIDATION_EPISODES
from qhil.common.settings import (
    episode_count,
    int_list,
    json_object,
    layer_widths,
    non_negative_float,
    non_negative_int,
    positive_int,
    setting,
)
from qhil.quant.config import BitConfig

__all__ = ["Args", "RLArgs", "QATArgs", "ImportArgs", "SB3_ALGOS"]

#: stable-baselines3 algorithms ``qhil import --sb3`` reads (MlpPolicy).
SB3_ALGOS = ("td3", "ddpg", "sac", "ppo", "a2c")


@dataclass
class Args:
    """``qhil train``'s settings."""

    env_id: str = setting(flag="--env", help="Gymnasium environment id, e.g. Pendulum-v1")
    algo: str = setting("td3", help="stable-baselines3 algorithm: td3, sac or ppo")
    steps: int = setting(100_000, parse=positive_int, help="environment steps of training")
    seed: int = setting(0, parse=non_negative_int, help=(
        "seed of the training run (torch, numpy, env); a fit seed, 0..999"))
    net: tuple[int, ...] = setting((64, 64), parse=int_list, help=(
        "hidden widths of the actor (ReLU); small enough for a microcontroller"))
    critic_net: tuple[int, ...] | None = setting(None, parse=int_list, help=(
        "hidden widths of the critic (default: 256,256; 64,64 for Pendulum)"))
    eval_every: int = setting(10_000, parse=positive_int, help=(
        "steps between validation evaluations (the best actor is kept)"))
    eval_episodes: int = setting(5, parse=episode_count, help=(
        "validation episodes per evaluation (validation seeds)"))
    test_episodes: int = setting(TEST_EPISODES, parse=episode_count, help=(
        "final evaluation episodes (test seeds); recorded in meta.json"))
    out: Path | None = setting(None, short="-o", parse=writable_dir, help=(
        "model folder to write (default: models/<env>); one that holds a model is refused "
        "unless --force"))
    force: bool = setting(False, help=(
        "overwrite the model in -o (blobs made from the old actor then warn that they were "
        "made from another actor)"))
    overrides: dict[str, Any] = setting(default_factory=dict, cli=False, help=(
        "hyperparameters that override the preset (SB3 constructor keywords; --set)"))


@dataclass
class RLArgs:
    steps: int = setting(20_000, cli=False, help=(
        "env steps of fine-tuning, critic warm-up included (QATArgs.rl_steps sets it)"))
    critic_warmup: int = setting(5_000, flag="--rl-warmup", parse=non_negative_int, help=(
        "first RL steps in which only the new critic learns"))
    learning_rate: float = setting(3e-4, flag="--rl-lr", help="TD3 critic learning rate (Adam)")
    # small: the distilled actor is already good and a young critic's gradients are noisy
    # (at the critic's rate the policy was measured to collapse)
    actor_learning_rate: float = setting(1e-5, flag="--rl-actor-lr",
                                         help="TD3 actor learning rate")
    bc_alpha: float = setting(0.0, flag="--rl-bc-alpha", parse=non_negative_float, help=(
        "TD3+BC: the actor minimizes -alpha Q / mean|Q| + (action - teacher's)^2 (2.5 in "
        "the TD3+BC paper); 0: plain TD3"))
    eval_every: int = setting(2_000, flag="--rl-eval-every", parse=positive_int, help=(
        "env steps between validations of the exported policy"))
    action_noise: float = setting(0.1, flag="--rl-action-noise", help=(
        "exploration noise std, in units of the action half-range"))
    seed: int = setting(0, cli=False, help="seed (QATArgs.seed sets it)")


@dataclass
class QATArgs:
    """The QAT recipe (docs/evaluation.md); ``qhil qat``'s options are generated from it."""

    bits: BitConfig = setting(cli=False, help="per-layer widths of the student")
    hidden: tuple[int, ...] | None = setting(None, parse=layer_widths, metavar="W,W", help=(
        "the student's hidden layer widths when they differ from the teacher's (e.g. "
        "128,128): wider at the same depth starts from the teacher widened without changing "
        "its function (Net2Net), any other shape from fresh weights; default: the teacher's"))
    iterations: int = setting(60, parse=positive_int, help=(
        "DAgger iterations (train, validate, collect)"))
    grad_steps: int = setting(1000, parse=positive_int, help="gradient steps per iteration")
    batch_size: int = setting(256, parse=positive_int, help="states per gradient step")
    lr: float = setting(1e-3, help="Adam learning rate of the first iteration")
    lr_final: float = setting(0.1, help=(
        "last iteration's learning rate as a fraction of --lr (cosine decay between)"))
    rollouts: int = setting(4, parse=non_negative_int, help=(
        "student episodes collected per iteration, deterministic"))
    perturbed_rollouts: int = setting(4, parse=non_negative_int, help=(
        "student episodes collected per iteration with action noise (recovery states)"))
    rollout_noise: float = setting(0.2, help=(
        "their action noise std, fraction of the action half-range"))
    val_episodes: int = setting(VALIDATION_EPISODES, parse=episode_count, help=(
        "validation episodes that choose the export (seeds 10000..; more episodes choose "
        "less by luck)"))
    test_episodes: int = setting(TEST_EPISODES, parse=episode_count, help=(
        "test episodes (seeds 100000..) of the chosen export, paired with the float actor"))
    finalists: int = setting(0, parse=non_negative_int, help=(
        "after training, re-evaluate the FINALISTS best iterations (by --val-episodes) and "
        "the average of the last --average-last iterations' weights on --select-episodes "
        "validation episodes, and keep the best of those (0: keep the best iteration); with "
        "--rl-steps, RL's exports get as many places of their own beside them"))
    select_episodes: int = setting(100, parse=episode_count, help=(
        "validation episodes (seeds 10000..) that choose among the finalists"))
    average_last: int = setting(5, parse=non_negative_int, help=(
        "iterations whose weights are averaged into one more finalist (0: none)"))
    learn_scales: bool = setting(False, help=(
        "learn the hidden activation steps with the weights (LSQ-style) instead of keeping "
        "calibration's"))
    max_states: int = setting(200_000, parse=positive_int, help=(
        "cap on the aggregated dataset (oldest states dropped first)"))
    seed: int = setting(0, parse=non_negative_int, help="torch and sampling seed")
    rl_steps: int = setting(0, parse=non_negative_int, help=(
        "mode (b): after distillation, fine-tune the quantized actor with TD3 for this many "
        "env steps (0: off)"))
    rl: RLArgs = setting(default_factory=RLArgs, help="RL fine-tuning (mode b)")


@dataclass
class ImportArgs:
    """``qhil import``'s settings: one source (``sb3``, ``onnx``, ``torch`` or ``tflite``)
    and its env."""

    env_id: str = setting(flag="--env", help=(
        "the policy's environment: a Gymnasium id, or module:function returning a "
        "gymnasium.Env (importable from the current directory)"))
    out: Path = setting(short="-o", parse=Path, help="model folder to write")
    sb3: Path | None = setting(None, parse=Path, metavar="ZIP", help=(
        "a stable-baselines3 model saved with .save() (TD3, DDPG, SAC, PPO, A2C; MlpPolicy)"))
    onnx: Path | None = setting(None, parse=Path, metavar="FILE", help=(
        "an ONNX actor: Gemm/MatMul+Add, Relu, Tanh, Identity, Clip, Flatten/Reshape, "
        "Mul/Add scaling at the end"))
    torch: Path | None = setting(None, parse=Path, metavar="FILE", help=(
        "a CleanRL-style actor state_dict (fc1.., fc_mu/fc_mean, action_scale, action_bias; "
        "or actor_mean.<i>) or a TorchScript nn.Sequential of Linear and ReLU/Tanh"))
    tflite: Path | None = setting(None, parse=Path, metavar="FILE", help=(
        "an int8 TensorFlow Lite policy (FULLY_CONNECTED with fused NONE or RELU, TANH, "
        "QUANTIZE/DEQUANTIZE at the ends): written as tflite.qhil in TFLM's own arithmetic, "
        "checked bit for bit against TFLM's interpreter, beside its float twin, the "
        "baseline (needs qhil[tflite]). RELU6, RELU_N1_TO_1 and LOGISTIC run in that "
        "arithmetic too, but have no float twin yet: refused here"))
    vecnormalize: Path | None = setting(None, parse=Path, metavar="PKL", help=(
        "VecNormalize statistics saved with .save() (with --sb3): observation mean, "
        "variance and clip become the actor's normalization"))
    env_kwargs: dict[str, Any] = setting(default_factory=dict, parse=json_object,
                                         metavar="JSON", help=(
        "keyword arguments for the environment, a JSON object (kept with the model)"))
    algo: str | None = setting(None, help=(
        f"the --sb3 algorithm ({', '.join(SB3_ALGOS)}); default: read from the zip"))
    test_episodes: int = setting(TEST_EPISODES, parse=episode_count, help=(
        "episodes of the float test return measured at import (test seeds)"))
