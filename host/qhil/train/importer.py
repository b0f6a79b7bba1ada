"""``qhil import``: a policy trained elsewhere becomes a standard model folder.

Every source goes the same way: read the network (:mod:`qhil.train.extract` for
stable-baselines3, :mod:`qhil.train.import_onnx`, :mod:`qhil.train.import_torch`), then

1. check it against the source's own computation (stable-baselines3's ``predict``,
   onnxruntime, torch) on :data:`CHECK_OBSERVATIONS` observations of the env, after the
   source's post-processing; more than :data:`CHECK_TOLERANCE` beyond the float32
   rounding the source's arithmetic may add (:func:`float32_slack`) is an error;
2. measure the float test return on the held-out protocol (docs/evaluation.md);
3. write ``actor.npz`` + ``meta.json`` with the provenance: the file, its sha256, what kind
   of source it was and the check's largest difference.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qhil.common.actor import FloatActor
from qhil.common.envs import env_reference, env_shape, make_env
from qhil.common.errors import ConfigError, ModelFormatError
from qhil.common.evaluation import evaluate_policy
from qhil.common.model_dir import save_model_dir
from qhil.common.protocol import SeedRange, Split, split_seeds
from qhil.common.provenance import package_versions
from qhil.quant.calibrate import CALIBRATION_SEED, collect_observations
from qhil.train.settings import SB3_ALGOS, ImportArgs

__all__ = ["import_policy", "ImportedPolicy", "CHECK_OBSERVATIONS", "CHECK_TOLERANCE"]

LOG = logging.getLogger(__name__)
#: Observations the imported actor is checked on, and the largest action difference allowed.
CHECK_OBSERVATIONS = 1000
CHECK_TOLERANCE = 1e-5

SourceFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class ImportedPolicy:
    """A network read from a source, with the source's own action function."""

    actor: FloatActor
    source: SourceFn
    kind: str
    """what was read: sb3-ppo, onnx, cleanrl-td3, torchscript, ..."""
    notes: dict[str, Any] = field(default_factory=dict)


def _sb3_algo(path: Path, given: str | None) -> str:
    if given is not None:
        if given not in SB3_ALGOS:
            raise ConfigError(f"unknown --algo '{given}' (choose from {', '.join(SB3_ALGOS)})")
        return given
    try:
        with zipfile.ZipFile(path) as z:
            data = json.loads(z.read("data"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: not a stable-baselines3 zip ({exc})") from None
    module = str(data.get("policy_class", {}).get("__module__", ""))
    if ".sac." in module:
        return "sac"
    if ".td3." in module:  # DDPG is TD3 without delay and target noise
        return "ddpg" if data.get("policy_delay") == 1 and not data.get("target_policy_noise") else "td3"
    if module.endswith("common.policies"):
        return "ppo" if "clip_range" in data else "a2c"
    raise ConfigError(f"{path}: cannot tell the algorithm from policy module '{module}'; "
                      f"give --algo ({', '.join(SB3_ALGOS)})")


def _from_sb3(args: ImportArgs, env_ref: str) -> ImportedPolicy:
    from stable_baselines3 import A2C, DDPG, PPO, SAC, TD3
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from qhil.train.extract import extract_actor

    assert args.sb3 is not None
    if not args.sb3.is_file():
        raise ModelFormatError(f"stable-baselines3 file '{args.sb3}' does not exist")
    algo = _sb3_algo(args.sb3, args.algo)
    classes: dict[str, type[BaseAlgorithm]] = {"td3": TD3, "ddpg": DDPG, "sac": SAC, "ppo": PPO,
                                               "a2c": A2C}
    cls = classes[algo]
    try:
        model = cls.load(str(args.sb3), device="cpu")
    except Exception as exc:  # noqa: BLE001 -- SB3 raises many kinds for a wrong file
        raise ModelFormatError(f"{args.sb3}: cannot load as {algo.upper()} "
                               f"({str(exc).splitlines()[0]})") from None
    vec_normalize = None
    if args.vecnormalize is not None:
        if not args.vecnormalize.is_file():
            raise ModelFormatError(f"VecNormalize file '{args.vecnormalize}' does not exist")
        try:
            vec_normalize = VecNormalize.load(str(args.vecnormalize),
                                              DummyVecEnv([lambda: make_env(env_ref)]))
        except Exception as exc:  # noqa: BLE001 -- pickle errors of many kinds
            raise ModelFormatError(f"{args.vecnormalize}: not VecNormalize statistics "
                                   f"({str(exc).splitlines()[0]})") from None
        vec_normalize.training = False
    else:
        beside = sorted(p.name for p in args.sb3.parent.glob("*.pkl"))
        LOG.warning("note: %s carries no VecNormalize statistics (SB3 saves them apart, "
                    "usually as a .pkl beside the zip%s): if the policy was trained under "
                    "VecNormalize, give that file with --vecnormalize", args.sb3,
                    f"; here: {', '.join(beside)}" if beside else "")
    actor = extract_actor(model, vec_normalize)

    def source(obs: np.ndarray) -> np.ndarray:
        x = obs if vec_normalize is None else np.asarray(vec_normalize.normalize_obs(obs))
        action, _ = model.predict(x.astype(np.float32), deterministic=True)
        return np.asarray(action, np.float64)

    return ImportedPolicy(actor, source, f"sb3-{algo}",
                          {"vecnormalize": str(args.vecnormalize) if args.vecnormalize else None})


def _from_onnx(path: Path, low: np.ndarray, high: np.ndarray) -> ImportedPolicy:
    from qhil.train.import_onnx import read_onnx_actor

    graph = read_onnx_actor(path)
    actor = graph.to_actor(low, high)
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("qhil import --onnx checks with onnxruntime: pip install 'qhil[onnx]'") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def source(obs: np.ndarray) -> np.ndarray:
        x = obs.astype(np.float32)
        if graph.batch_dynamic:
            y = session.run(None, {graph.input_name: x})[0]
        else:
            y = np.concatenate([session.run(None, {graph.input_name: row[None]})[0] for row in x])
        y = np.asarray(y, np.float64).reshape(len(obs), -1)
        if graph.scale is not None or graph.clip is not None:
            return y  # the graph scales or clips its own actions
        if graph.tanh_output:
            return low + 0.5 * (y + 1.0) * (high - low)
        return np.clip(y, low, high)

    return ImportedPolicy(actor, source, "onnx", {"checked_with": "onnxruntime " + onnxruntime.__version__})


def _from_torch(path: Path, low: np.ndarray, high: np.ndarray) -> ImportedPolicy:
    from qhil.train.import_torch import read_torch_actor

    actor, source, kind = read_torch_actor(path, low, high)
    return ImportedPolicy(actor, source, kind)


def float32_slack(actor: FloatActor, obs: np.ndarray) -> np.ndarray:
    """How far a float32 evaluation of ``actor`` (the source: torch, onnxruntime) may be from
    qhil's float64 one, per observation and action: each layer's dot products accumulate
    at most ``n eps32`` of the sum of their terms' magnitudes (the standard bound), carried
    through the layers by ``|W|`` (tanh and ReLU shrink differences), to the action's units.
    Magnitudes in the hundreds inside a trained network make this exceed a fixed 1e-5."""
    eps = float(np.finfo(np.float32).eps)
    h = np.abs(actor.normalize(obs))
    slack = eps * h
    for w, b in zip(actor.weights, actor.biases, strict=True):
        magnitude = np.abs(w.T).astype(np.float64)
        terms = h @ magnitude + np.abs(b)
        slack = slack @ magnitude + w.shape[1] * eps * terms
        h = terms
    scale = (0.5 * (actor.action_high - actor.action_low) if actor.output == "tanh"
             else np.ones_like(actor.action_high))
    return np.asarray(slack * scale)


def check_observations(actor: FloatActor, env_ref: str, count: int = CHECK_OBSERVATIONS) -> np.ndarray:
    """``count`` observations from rollouts of ``actor`` with action noise, on fit seeds."""
    found: list[np.ndarray] = []
    total, i = 0, 0
    while total < count:
        obs = collect_observations(actor, env_ref, episodes=1, seed=CALIBRATION_SEED + i,
                                   max_steps=count - total)
        found.append(obs)
        total += len(obs)
        i += 1
    return np.concatenate(found)[:count]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_source(args: ImportArgs) -> tuple[ImportedPolicy, Path, str]:
    """The source of ``args`` read and checked against the env's spaces."""
    sources = [(name, p) for name, p in (("sb3", args.sb3), ("onnx", args.onnx),
                                         ("torch", args.torch)) if p is not None]
    if len(sources) != 1:
        raise ConfigError("give exactly one of --sb3, --onnx, --torch, --tflite "
                          f"({'none' if not sources else ', '.join(n for n, _ in sources)} given)")
    if args.vecnormalize is not None and args.sb3 is None:
        raise ConfigError("--vecnormalize goes with --sb3")
    name, path = sources[0]
    env_ref = env_reference(args.env_id, args.env_kwargs)
    obs_dim, low, high = env_shape(env_ref)
    if name == "sb3":
        policy = _from_sb3(args, env_ref)
    elif name == "onnx":
        policy = _from_onnx(path, low, high)
    else:
        policy = _from_torch(path, low, high)
    actor = policy.actor
    if actor.obs_dim != obs_dim or actor.action_dim != low.size:
        raise ConfigError(f"{path}: the policy maps {actor.obs_dim} observations to "
                          f"{actor.action_dim} actions; {args.env_id} has {obs_dim} and {low.size}")
    return policy, path, env_ref


def import_policy(args: ImportArgs, show_progress: bool = True) -> Path:
    """Read, check, evaluate and save; returns the model folder written.

    :raises ConfigError: a source that is not supported or disagrees with its own actions
    :raises ModelFormatError: a file that cannot be read as the source it is given as
    """
    if args.tflite is not None:
        raise ConfigError("an int8 .tflite policy is imported by qhil.tflite.importer "
                          "(qhil import --tflite), not re-quantized from float")
    policy, path, env_ref = read_source(args)
    actor = policy.actor
    LOG.info("read %s (%s): %s, hidden %s, %s output", path, policy.kind,
             " -> ".join(map(str, actor.layer_sizes)),
             ",".join(a.value for a in actor.activations) or "none", actor.output)
    obs = check_observations(actor, env_ref)
    excess = np.abs(actor.act(obs) - policy.source(obs)) - float32_slack(actor, obs)
    error = max(0.0, float(np.max(excess)))
    LOG.info("checked on %d observations: largest action difference beyond the source's "
             "float32 rounding %.2e (tolerance %.0e)", len(obs), error, CHECK_TOLERANCE)
    if not error <= CHECK_TOLERANCE:
        raise ConfigError(f"{path}: the imported actor's actions differ from the source's by "
                          f"{error:.3g} beyond float32 rounding (> {CHECK_TOLERANCE:g}) on "
                          f"{len(obs)} observations")
    source = {"file": str(path), "sha256": _sha256(path), "kind": policy.kind,
              "checked_observations": len(obs), "max_abs_action_error": error,
              **{k: v for k, v in policy.notes.items() if v is not None}}
    meta = evaluate_and_meta(actor, env_ref, policy.kind, path, source, args.test_episodes,
                             show_progress)
    save_model_dir(args.out, actor, meta)
    return args.out


def evaluate_and_meta(actor: FloatActor, env_ref: str, kind: str, path: Path,
                      source: dict[str, Any], test_episodes: int,
                      show_progress: bool) -> dict[str, Any]:
    """The float test return on the held-out protocol, and the folder's meta.json."""
    seeds: SeedRange = split_seeds(Split.TEST, test_episodes)
    progress = None
    if show_progress:
        from tqdm import tqdm

        def progress(it: Any) -> Any:
            return tqdm(it, desc="float test return", unit="episode", total=test_episodes)

    start = time.perf_counter()
    test = evaluate_policy(actor, env_ref, seeds, Split.TEST, progress=progress)
    LOG.info("float test return over %d episodes (seeds %s): %.1f +- %.1f (%.0f s)",
             test_episodes, seeds, test.mean, test.std, time.perf_counter() - start)
    return {"env_id": env_ref, "algo": kind, "net": actor.layer_sizes[1:-1],
            "provenance": f"imported from {path}", "source": source,
            "versions": package_versions(), "eval": test.as_dict()}
