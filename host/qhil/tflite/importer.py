"""``qhil import --tflite``: an int8 ``.tflite`` policy becomes a qhil model folder.

1. read the graph (:mod:`qhil.tflite.graph`) and express it in the ``tflite`` arithmetic
   (:mod:`qhil.tflite.convert`);
2. check qhil's golden executor against TFLM's interpreter on :data:`CHECK_INPUTS`
   inputs, half of them observations of the env, half uniform over the input's int8
   range: every output must be equal, bit for bit (float outputs: the same float32);
   LiteRT's reference kernels are run on the same inputs and their agreement recorded;
3. write ``tflite.qhil`` (the integer policy), ``actor.npz`` (its float twin: the same
   network with dequantized weights and float activations, written in ReLU, tanh and
   linear layers (:func:`float_twin`), the baseline that % of float compares with) and
   ``meta.json`` (the file, its sha256, the checks, the action mapping).

The action mapping: a model ending in TANH is rescaled from [-1, 1] to the env's action
bounds (as stable-baselines3 does); any other output is the action, clipped to the bounds.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from qhil.common.actor import Activation, FloatActor, OutputKind
from qhil.common.envs import env_reference, env_shape
from qhil.common.errors import ConfigError, ModelFormatError
from qhil.common.model_dir import load_model_dir, save_model_dir
from qhil.quant.blob import write_blob
from qhil.quant.golden import GoldenExecutor
from qhil.quant.policy import ObservationQuantizer
from qhil.quant.qmodel import QuantModel
from qhil.tflite.convert import ActionMap, to_quant_model
from qhil.tflite.graph import TfliteDense, TfliteGraph, TfliteTable, read_tflite
from qhil.tflite.interpreters import run_litert_reference, run_tflm
from qhil.train.importer import check_observations, evaluate_and_meta
from qhil.train.settings import ImportArgs

__all__ = ["import_tflite", "check_against_tflm", "float_twin", "CHECK_INPUTS", "BLOB_NAME"]

LOG = logging.getLogger(__name__)
CHECK_INPUTS = 10_000
BLOB_NAME = "tflite.qhil"


def _action_map(graph: TfliteGraph) -> ActionMap:
    last = graph.ops[-1]
    return "rescale" if isinstance(last, TfliteTable) and last.op == "TANH" else "clip"


def _post_ops(graph: TfliteGraph) -> list[tuple[TfliteDense, str]]:
    """Each FULLY_CONNECTED with what follows it: its fused activation, or the TANH or
    LOGISTIC after an unfused one."""
    ops = list(graph.ops)
    out: list[tuple[TfliteDense, str]] = []
    for i, op in enumerate(ops):
        if not isinstance(op, TfliteDense):
            continue
        nxt = ops[i + 1] if i + 1 < len(ops) else None
        if isinstance(nxt, TfliteTable):
            if op.fused != "NONE":
                raise ConfigError(f"{nxt.op} after fused {op.fused} has no float counterpart "
                                  "for the baseline")
            out.append((op, nxt.op))
        else:
            out.append((op, op.fused))
    return out


def float_twin(graph: TfliteGraph, low: np.ndarray, high: np.ndarray) -> FloatActor:
    """The float network the int8 graph quantizes, the baseline % of float compares with:
    dequantized weights and biases, float activations. qhil's float actors have ReLU, tanh
    and linear layers, so the other activations are written exactly in those, which can
    widen a layer or add one (the same function, another shape):

    - RELU6: ``relu(h) - relu(h - 6)`` (a ReLU layer of twice the rows, the next layer
      takes ``[W, -W]``); RELU_N1_TO_1: ``relu(h + 1) - relu(h - 1) - 1`` likewise;
    - LOGISTIC: ``(tanh(h / 2) + 1) / 2`` (a tanh layer of halved weights, the next
      layer takes ``W / 2`` and ``b + W 1 / 2``);
    - a last layer with any of these (or ReLU) becomes a hidden layer followed by a linear
      one that maps its units back (the action, clipped to the bounds, as the int8 model's);
      a last TANH is the actor's tanh output (rescaled to the bounds).
    """
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    acts: list[Activation] = []
    # the logical input of the next layer is mix @ units + offset (units: the last layer made)
    mix: np.ndarray | None = None
    offset: np.ndarray | None = None
    posts = _post_ops(graph)
    for i, (op, post) in enumerate(posts):
        scales = np.broadcast_to(op.w_scales.astype(np.float64), (op.weights.shape[0],))
        w = op.weights.astype(np.float64) * scales[:, None]
        b = op.bias.astype(np.float64) * op.inp.scale * scales
        if mix is not None and offset is not None:
            w, b = w @ mix, b + w @ offset
        last = i == len(posts) - 1
        n = w.shape[0]
        if post in ("RELU6", "RELU_N1_TO_1"):
            lo, hi = (0.0, 6.0) if post == "RELU6" else (-1.0, 1.0)
            w, b = np.vstack([w, w]), np.concatenate([b - lo, b - hi])
            act, mix, offset = Activation.RELU, np.hstack([np.eye(n), -np.eye(n)]), np.full(n, lo)
        elif post == "LOGISTIC":
            w, b = w / 2, b / 2
            act, mix, offset = Activation.TANH, np.eye(n) / 2, np.full(n, 0.5)
        else:
            act = {"NONE": Activation.IDENTITY, "RELU": Activation.RELU,
                   "TANH": Activation.TANH}[post]
            mix = offset = None
        weights.append(w)
        biases.append(b)
        acts.append(act)
        if last and act is not Activation.IDENTITY and post != "TANH":
            weights.append(np.eye(n) if mix is None else mix)
            biases.append(np.zeros(n) if offset is None else offset)
            acts.append(Activation.IDENTITY)
    output: OutputKind = "tanh" if acts[-1] is Activation.TANH else "clip"
    n_in = weights[0].shape[1]
    return FloatActor(tuple(x.astype(np.float32) for x in weights),
                      tuple(x.astype(np.float32) for x in biases), np.zeros(n_in),
                      np.ones(n_in), np.inf, np.asarray(low, np.float64),
                      np.asarray(high, np.float64), output, tuple(acts[:-1]))


def check_inputs(graph: TfliteGraph, model: QuantModel, observations: np.ndarray,
                 count: int, seed: int = 0) -> np.ndarray:
    """``count`` inputs in the model's own input type: env observations first, then
    uniform draws over the int8 input range (as codes, or the floats they stand for)."""
    rng = np.random.default_rng(seed)
    n_obs = min(len(observations), count // 2)
    uniform = rng.integers(-128, 128, (count - n_obs, graph.obs_dim))
    if not graph.float_input:
        obs_codes = ObservationQuantizer(model)(observations[:n_obs])
        return np.concatenate([obs_codes, uniform]).astype(np.int8)
    spread = (uniform - graph.inp.zero + rng.uniform(-0.5, 0.5, uniform.shape)) * graph.inp.scale
    return np.concatenate([observations[:n_obs], spread]).astype(np.float32)


def _golden_outputs(graph: TfliteGraph, model: QuantModel, inputs: np.ndarray) -> np.ndarray:
    codes = (ObservationQuantizer(model)(inputs) if graph.float_input
             else inputs.astype(np.int64))
    out = GoldenExecutor(model).action_codes(codes)
    if graph.float_output:  # TFLite's DEQUANTIZE: scale * (q - zero) in float32
        return (np.float32(graph.out.scale) * (out - graph.out.zero).astype(np.float32))
    return out


def check_against_tflm(data: bytes, graph: TfliteGraph, model: QuantModel,
                       inputs: np.ndarray) -> dict[str, Any]:
    """Golden executor against TFLM (must be equal) and LiteRT's reference (reported).

    :raises ModelFormatError: any output that differs from TFLM's
    """
    ours = _golden_outputs(graph, model, inputs)
    tflm = run_tflm(data, inputs)
    differ = np.flatnonzero(np.any(ours != tflm.reshape(ours.shape), axis=1))
    if differ.size:
        i = int(differ[0])
        raise ModelFormatError(
            f"qhil's tflite arithmetic differs from TFLM's interpreter on {differ.size} of "
            f"{len(inputs)} inputs (first: input {i}, qhil {ours[i].tolist()}, TFLM "
            f"{tflm[i].tolist()}); please report this model")
    result: dict[str, Any] = {"inputs": len(inputs), "tflm_equal": len(inputs)}
    litert = run_litert_reference(data, inputs)
    if litert is not None:
        same = np.all(litert.reshape(ours.shape) == ours, axis=1)
        result["litert_reference_equal"] = int(same.sum())
    return result


def import_tflite(args: ImportArgs, show_progress: bool = True) -> Path:
    """Read ``args.tflite``, check it against TFLM, save ``args.out`` (module docstring).

    :raises ConfigError: another source given too, or a model that does not fit the env
    :raises ModelFormatError: a file that is not an int8 policy qhil reads
    """
    others = [n for n, p in (("--sb3", args.sb3), ("--onnx", args.onnx),
                             ("--torch", args.torch), ("--vecnormalize", args.vecnormalize))
              if p is not None]
    if args.tflite is None or others:
        raise ConfigError(f"give exactly one source: --tflite, not with {', '.join(others)}")
    path, env_id, env_kwargs, out = args.tflite, args.env_id, args.env_kwargs, args.out
    test_episodes = args.test_episodes
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"TFLite file '{path}' does not exist") from None
    graph = read_tflite(data, str(path))
    env_ref = env_reference(env_id, env_kwargs)
    obs_dim, low, high = env_shape(env_ref)
    if graph.obs_dim != obs_dim or graph.act_dim != low.size:
        raise ConfigError(f"{path}: the model maps {graph.obs_dim} inputs to {graph.act_dim} "
                          f"outputs; {env_id} has {obs_dim} observations and {low.size} actions")
    action_map = _action_map(graph)
    model = to_quant_model(graph, low, high, action_map, env_ref)
    twin = float_twin(graph, low, high)
    LOG.info("read %s: %s, int8 %s, %s input, %s output; actions: %s", path,
             " -> ".join(str(s) for s in twin.layer_sizes),
             "per-channel" if any(op.w_scales.size > 1 for op in graph.ops
                                  if isinstance(op, TfliteDense)) else "per-tensor",
             "float (QUANTIZE)" if graph.float_input else "int8",
             "float (DEQUANTIZE)" if graph.float_output else "int8",
             "rescaled from [-1, 1] to the action bounds (the model ends in TANH)"
             if action_map == "rescale" else "the output itself, clipped to the action bounds")
    observations = check_observations(twin, env_ref, CHECK_INPUTS // 2)
    check = check_against_tflm(data, graph, model, check_inputs(graph, model, observations,
                                                                CHECK_INPUTS))
    LOG.info("checked on %d inputs (%d env observations, the rest uniform): equal to TFLM's "
             "interpreter on all%s", check["inputs"], len(observations),
             f"; LiteRT's reference kernels agree on {check['litert_reference_equal']}"
             if "litert_reference_equal" in check else "")
    source = {"file": str(path), "sha256": hashlib.sha256(data).hexdigest(), "kind": "tflite",
              "action_map": action_map, "check": check}
    meta = evaluate_and_meta(twin, env_ref, "tflite-int8", path, source, test_episodes,
                             show_progress)
    save_model_dir(out, twin, meta)
    blob = write_blob(model, env_ref, {"method": "tflite", "source": str(path),
                                       "tflite_sha256": source["sha256"],
                                       "actor_sha256": load_model_dir(out).actor_sha256})
    (out / BLOB_NAME).write_bytes(blob)
    LOG.info("wrote %s (the int8 policy, %d bytes) beside its float twin", out / BLOB_NAME,
             len(blob))
    return out
