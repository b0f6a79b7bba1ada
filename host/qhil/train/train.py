"""Train a float baseline actor with stable-baselines3 and save it as a qhil model folder.

Docs: README.md#training. Results: BENCHMARKS.md#float-baselines.
Reproduce the shipped actors with ``benchmarks/train_baselines.sh``.

Read top to bottom: ``Args`` -> presets -> the evaluation callback -> ``train()``.
The RL algorithms are stable-baselines3's own (no algorithm is written here); this file
only chooses hyperparameters, keeps the best actor on validation seeds and evaluates it
on the test seeds of the held-out protocol (docs/evaluation.md).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize
from tqdm import tqdm

from qhil.common.actor import FloatActor
from qhil.common.envs import check_env_id, make_env
from qhil.common.errors import ConfigError
from qhil.common.evaluation import evaluate_policy
from qhil.common.model_dir import save_model_dir
from qhil.common.paths import check_writable_dir
from qhil.common.protocol import SeedRange, Split, check_seeds, split_seeds
from qhil.common.provenance import package_versions
from qhil.train.extract import extract_actor
from qhil.train.imitate import check_has_expert, clone_expert
from qhil.train.settings import Args

__all__ = ["Args", "train", "ALGOS"]

LOG = logging.getLogger(__name__)

ALGOS = ("td3", "sac", "ppo")

# --------------------------------------------------------------------------------------
# Presets: hyperparameters known to work for small ReLU actors on each task family.
# --------------------------------------------------------------------------------------
def preset(algo: str, env_id: str) -> dict[str, Any]:
    """SB3 keyword arguments for ``algo`` on ``env_id`` (before user overrides), and qhil's
    own: ``curriculum`` (True: call the env's ``qhil_curriculum(progress)`` as training
    goes, progress 0 to 1) and ``imitate`` (N > 0, PPO only: start the actor as a clone of
    the env's ``qhil_expert(obs)`` controller by N rounds of DAgger, :mod:`qhil.train.imitate`).
    An env without the method either needs is refused."""
    return _sb3_preset(algo, env_id) | {"curriculum": False, "imitate": 0}


def _sb3_preset(algo: str, env_id: str) -> dict[str, Any]:
    classic = env_id.startswith(("Pendulum", "MountainCar", "LunarLander"))
    # Short tasks cannot spend 10k steps on random warm-up (InvertedPendulum: 20k steps).
    warmup = 1_000 if classic or env_id.startswith("Inverted") else 10_000
    if algo == "td3":
        return {
            "learning_rate": 1e-3,
            "buffer_size": 200_000 if classic else 1_000_000,
            "learning_starts": warmup,
            "batch_size": 256,
            "gamma": 0.98 if classic else 0.99,
            "tau": 0.005,
            "action_noise_sigma": 0.1,
        }
    if algo == "sac":
        return {
            "learning_rate": 1e-3 if classic else 3e-4,
            "buffer_size": 200_000 if classic else 1_000_000,
            "learning_starts": warmup,
            "batch_size": 256,
            "gamma": 0.98 if classic else 0.99,
            "tau": 0.005,
        }
    if algo == "ppo":
        return {
            "learning_rate": 3e-4,
            "n_steps": 2048,
            "batch_size": 64,
            "n_epochs": 10,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "clip_range": 0.2,
            "n_envs": 1,
            "vec_env": "dummy",  # or "subproc": each training env in a process of its own
            "log_std_init": 0.0,  # SB3's default initial action noise (std 1)
        }
    raise ConfigError(f"unknown algo '{algo}' (choose from {', '.join(ALGOS)})")


def check_overrides(algo: str, env_id: str, overrides: dict[str, Any]) -> None:
    """Refuse ``--set`` keys the algorithm does not take and values of the wrong type
    before they reach stable-baselines3 (whose own checks are asserts deep inside)."""
    import inspect

    cls = {"td3": TD3, "sac": SAC, "ppo": PPO}[algo]
    params = inspect.signature(cls).parameters
    base = preset(algo, env_id)
    known = set(params) | set(base)
    for key, value in overrides.items():
        if key not in known or key in ("policy", "env"):
            names = sorted(k for k in known if k not in ("policy", "env") and not k.startswith("_"))
            raise ConfigError(f"--set {key}: {algo} has no such hyperparameter (it has: "
                              f"{', '.join(names)})")
        default = base.get(key, params[key].default if key in params else None)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int) and key in base:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, int | float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = True
        if not ok:
            raise ConfigError(f"--set {key}={value!r}: expected {type(default).__name__} "
                              f"like {default!r}")


def check_out(out: Path, force: bool) -> None:
    """Refuse to overwrite a model folder without ``force``; say which blobs beside it
    were made from the actor that is replaced."""
    check_writable_dir(out)
    if not (out / "actor.npz").exists() and not (out / "meta.json").exists():
        return
    blobs = sorted(p.name for p in out.glob("*.qhil"))
    beside = f" and {len(blobs)} blobs made from it ({', '.join(blobs)})" if blobs else ""
    if not force:
        raise ConfigError(f"{out} already holds a model{beside}: choose another -o, or "
                          "--force to overwrite it")
    if blobs:
        LOG.warning("overwriting %s: %s stay and will warn that they were made from another "
                    "actor", out, ", ".join(blobs))


def build_model(args: Args) -> tuple[BaseAlgorithm, VecNormalize | None, dict[str, Any]]:
    hp = preset(args.algo, args.env_id) | args.overrides
    classic = args.env_id.startswith("Pendulum")
    critic = list(args.critic_net or ((64, 64) if classic else (256, 256)))
    hp_record = dict(hp, critic_net=critic)
    hp.pop("curriculum")  # qhil's, not SB3's: the validation callback drives it
    hp.pop("imitate")  # qhil's: train() clones the expert into the built model
    if args.algo in ("td3", "sac"):
        env = make_env(args.env_id)
        kwargs = {k: v for k, v in hp.items() if k != "action_noise_sigma"}
        kwargs["policy_kwargs"] = {"net_arch": {"pi": list(args.net), "qf": critic},
                                   "activation_fn": nn.ReLU}
        if args.algo == "td3":
            n_act = int(np.prod(env.action_space.shape or (1,)))
            sigma = float(hp["action_noise_sigma"])
            kwargs["action_noise"] = NormalActionNoise(np.zeros(n_act), sigma * np.ones(n_act))
            return TD3("MlpPolicy", env, seed=args.seed, device="cpu", **kwargs), None, hp_record
        return SAC("MlpPolicy", env, seed=args.seed, device="cpu", **kwargs), None, hp_record
    n_envs = int(hp.pop("n_envs", 1))
    vec_classes: dict[str, type[DummyVecEnv] | type[SubprocVecEnv]] = {
        "dummy": DummyVecEnv, "subproc": SubprocVecEnv}
    vec_cls = vec_classes.get(str(hp.pop("vec_env", "dummy")))
    if vec_cls is None:
        raise ConfigError("--set vec_env must be 'dummy' or 'subproc'")
    venv = VecNormalize(make_vec_env(lambda: make_env(args.env_id), n_envs=n_envs, seed=args.seed,
                                     vec_env_cls=vec_cls),
                        norm_obs=True, norm_reward=True)
    kwargs = dict(hp)
    kwargs["policy_kwargs"] = {"net_arch": {"pi": list(args.net), "vf": critic},
                               "activation_fn": nn.ReLU}
    if "log_std_init" in kwargs:  # the policy's initial action noise (a policy_kwargs key)
        kwargs["policy_kwargs"]["log_std_init"] = float(kwargs.pop("log_std_init"))
    return PPO("MlpPolicy", venv, seed=args.seed, device="cpu", **kwargs), venv, hp_record


# --------------------------------------------------------------------------------------
# Periodic validation: keep the actor with the best mean return on validation seeds.
# --------------------------------------------------------------------------------------
class ValidationCallback(BaseCallback):
    def __init__(self, args: Args, vec_normalize: VecNormalize | None, bar: tqdm,
                 curriculum: bool = False) -> None:
        super().__init__()
        self.args = args
        self.vec_normalize = vec_normalize
        self.bar = bar
        self.curriculum = curriculum
        self.curve: list[tuple[int, float]] = []
        self.best: tuple[float, FloatActor] | None = None

    def _on_rollout_start(self) -> None:
        if self.curriculum:  # only the training envs: validation keeps the env's reward
            self.training_env.env_method("qhil_curriculum", self.num_timesteps / self.args.steps)

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        if self.num_timesteps % self.args.eval_every < self.training_env.num_envs:
            self.validate()
        return True

    def validate(self) -> None:
        actor = copy.deepcopy(extract_actor(self.model, self.vec_normalize))
        result = evaluate_policy(actor, self.args.env_id,
                                 split_seeds(Split.VALIDATION, self.args.eval_episodes),
                                 Split.VALIDATION)
        self.curve.append((int(self.num_timesteps), result.mean))
        if self.best is None or result.mean >= self.best[0]:
            self.best = (result.mean, actor)
        self.bar.set_postfix(val=f"{result.mean:.0f}", best=f"{self.best[0]:.0f}")
        LOG.debug("step %d: validation return %.1f", self.num_timesteps, result.mean)


# --------------------------------------------------------------------------------------
# ALGO LOGIC: train, select, evaluate on the test seeds, save.
# --------------------------------------------------------------------------------------
def train(args: Args, show_progress: bool = True) -> Path:
    """Train, keep the best validation actor, evaluate it on the test seeds, save it.

    :return: the model folder written
    """
    check_env_id(args.env_id)
    if args.algo not in ALGOS:
        raise ConfigError(f"unknown algo '{args.algo}' (choose from {', '.join(ALGOS)})")
    if args.steps <= 0:
        raise ConfigError(f"steps must be positive, got {args.steps}")
    if args.test_episodes <= 0 or args.eval_episodes <= 0:
        raise ConfigError("episodes must be positive")
    if not args.net or any(w <= 0 for w in args.net):
        raise ConfigError(f"hidden widths must be positive, got {args.net}")
    check_seeds(SeedRange.of(args.seed, 1), Split.FIT)
    check_overrides(args.algo, args.env_id, args.overrides)
    settings = preset(args.algo, args.env_id) | args.overrides
    curriculum = bool(settings["curriculum"])
    imitate = int(settings["imitate"])
    if imitate < 0 or (imitate and args.algo != "ppo"):
        raise ConfigError(f"--set imitate={imitate}: a number of DAgger rounds >= 0, for "
                          "--algo ppo only")
    if imitate:
        check_has_expert(args.env_id)
    if curriculum:
        probe = make_env(args.env_id)
        has_hook = callable(getattr(probe.unwrapped, "qhil_curriculum", None))
        probe.close()
        if not has_hook:
            raise ConfigError(f"--set curriculum=true: {args.env_id} has no "
                              "qhil_curriculum(progress) method to drive")
    out = args.out or Path("models") / args.env_id
    check_out(out, args.force)

    # Seeding: SB3 seeds torch, numpy and the env from `seed`; one thread is fastest here.
    torch.set_num_threads(1)
    model, vec_normalize, hp = build_model(args)

    start = time.perf_counter()
    with tqdm(total=args.steps, desc=f"train {args.algo} {args.env_id}", unit="step",
              disable=not show_progress, smoothing=0.05) as bar:
        callback = ValidationCallback(args, vec_normalize, bar, curriculum)
        if imitate:
            assert isinstance(model, PPO) and vec_normalize is not None
            bar.set_description(f"imitate {args.env_id}'s expert")
            clone_expert(model, vec_normalize, args.env_id, imitate, args.seed,
                         lambda r, n, err: bar.set_postfix(round=f"{r + 1}/{imitate}",
                                                           samples=n, error=f"{err:.3f}"))
            callback.init_callback(model)
            callback.validate()  # the clone itself competes with every RL checkpoint
            bar.set_description(f"train {args.algo} {args.env_id}")
        model.learn(total_timesteps=args.steps, callback=callback)
        if not callback.curve or callback.curve[-1][0] != model.num_timesteps:
            callback.validate()
    wall = time.perf_counter() - start
    assert callback.best is not None
    best_val, actor = callback.best

    test = evaluate_policy(actor, args.env_id, split_seeds(Split.TEST, args.test_episodes),
                           Split.TEST)
    LOG.info("test return over %d episodes: %.1f +- %.1f", args.test_episodes, test.mean, test.std)
    meta = {
        "env_id": args.env_id,
        "algo": args.algo,
        "net": list(args.net),
        "train": {
            "steps": args.steps,
            "seed": args.seed,
            "hyperparameters": hp,
            "wall_time_s": round(wall, 1),
            "best_validation_return": best_val,
            "validation_seeds": str(split_seeds(Split.VALIDATION, args.eval_episodes)),
            "curve": callback.curve,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(args).items()},
        },
        "versions": package_versions(),
        "eval": test.as_dict(),
    }
    save_model_dir(out, actor, meta)
    return out
