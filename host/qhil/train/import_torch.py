"""Read a PyTorch actor (``qhil import --torch``): a CleanRL-style state_dict or a
TorchScript ``nn.Sequential``.

State dicts (``torch.save(actor.state_dict(), path)``), by their keys:

- ``fc1``, ``fc2``, ... then ``fc_mu`` (CleanRL's TD3/DDPG) or ``fc_mean`` (its SAC; the
  ``fc_logstd`` head is ignored), with ``action_scale`` and ``action_bias``: ReLU hidden
  layers, action ``tanh(fc_mu(h)) * action_scale + action_bias``;
- ``actor_mean.<i>`` (CleanRL's continuous PPO agent, ``critic.*`` and ``actor_logstd``
  ignored): Tanh hidden layers, the action is the mean clipped to the env's bounds.

TorchScript: an ``nn.Sequential`` of ``Linear`` and ``ReLU``/``Tanh``/``Identity``; one that
ends in Tanh is rescaled to the env's bounds (stable-baselines3's convention), one that
ends in a Linear is clipped to them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qhil.common.actor import Activation, FloatActor, OutputKind
from qhil.common.errors import ConfigError, ModelFormatError

__all__ = ["read_torch_actor"]

_SCRIPT_ACTS = {"ReLU": Activation.RELU, "Tanh": Activation.TANH, "Identity": Activation.IDENTITY}
SourceFn = Callable[[np.ndarray], np.ndarray]


def _arr(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _cleanrl_tanh(sd: dict[str, torch.Tensor], head: str) -> tuple[FloatActor, SourceFn, str]:
    names = sorted((k[:-7] for k in sd if re.fullmatch(r"fc\d+\.weight", k)),
                   key=lambda n: int(n[2:]))
    names.append(head)
    for key in ("action_scale", "action_bias"):
        if key not in sd:
            raise ConfigError(f"CleanRL actor state_dict lacks '{key}'")
    scale = _arr(sd["action_scale"]).astype(np.float64).reshape(-1)
    bias = _arr(sd["action_bias"]).astype(np.float64).reshape(-1)
    ws = tuple(_arr(sd[f"{n}.weight"]) for n in names)
    bs = tuple(_arr(sd[f"{n}.bias"]) for n in names)
    n_in, act_dim = ws[0].shape[1], ws[-1].shape[0]
    scale, bias = np.broadcast_to(scale, (act_dim,)), np.broadcast_to(bias, (act_dim,))
    actor = FloatActor(ws, bs, np.zeros(n_in), np.ones(n_in), math.inf, bias - scale,
                       bias + scale, "tanh", (Activation.RELU,) * (len(ws) - 1))

    def source(obs: np.ndarray) -> np.ndarray:  # CleanRL's forward, in torch float32
        with torch.no_grad():
            x = torch.as_tensor(obs, dtype=torch.float32)
            for n in names[:-1]:
                x = torch.relu(torch.nn.functional.linear(x, sd[n + ".weight"], sd[n + ".bias"]))
            y = torch.tanh(torch.nn.functional.linear(x, sd[head + ".weight"], sd[head + ".bias"]))
            return (y * sd["action_scale"] + sd["action_bias"]).numpy().astype(np.float64)

    return actor, source, f"cleanrl-{'sac' if head == 'fc_mean' else 'td3'}"


def _cleanrl_ppo(sd: dict[str, torch.Tensor], low: np.ndarray, high: np.ndarray
                 ) -> tuple[FloatActor, SourceFn, str]:
    idx = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"actor_mean\.(\d+)\.weight", k)))
    ws = tuple(_arr(sd[f"actor_mean.{i}.weight"]) for i in idx)
    bs = tuple(_arr(sd[f"actor_mean.{i}.bias"]) for i in idx)
    n_in = ws[0].shape[1]
    actor = FloatActor(ws, bs, np.zeros(n_in), np.ones(n_in), math.inf, low, high, "clip",
                       (Activation.TANH,) * (len(ws) - 1))

    def source(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor(obs, dtype=torch.float32)
            for j, i in enumerate(idx):
                x = torch.nn.functional.linear(x, sd[f"actor_mean.{i}.weight"],
                                               sd[f"actor_mean.{i}.bias"])
                if j < len(idx) - 1:
                    x = torch.tanh(x)
            return np.clip(x.numpy().astype(np.float64), low, high)

    return actor, source, "cleanrl-ppo"


def _script(module: Any, low: np.ndarray, high: np.ndarray) -> tuple[FloatActor, SourceFn, str]:
    ws: list[np.ndarray] = []
    bs: list[np.ndarray] = []
    acts: list[Activation] = []
    for name, child in module.named_children():
        kind = getattr(child, "original_name", type(child).__name__)
        if kind == "Linear":
            ws.append(_arr(child.weight))
            bias = getattr(child, "bias", None)
            bs.append(_arr(bias) if bias is not None else np.zeros(ws[-1].shape[0], np.float32))
            acts.append(Activation.IDENTITY)
        elif kind in _SCRIPT_ACTS and ws and acts[-1] is Activation.IDENTITY:
            acts[-1] = _SCRIPT_ACTS[kind]
        else:
            raise ConfigError(f"TorchScript module '{name}' ({kind}) is not supported: an "
                              "nn.Sequential of Linear and ReLU/Tanh/Identity")
    if not ws:
        raise ConfigError("the TorchScript module has no Linear layer")
    if acts[-1] is Activation.RELU:
        raise ConfigError("the TorchScript actor ends in ReLU; qhil's outputs are tanh or linear")
    output: OutputKind = "tanh" if acts[-1] is Activation.TANH else "clip"
    n_in = ws[0].shape[1]
    actor = FloatActor(tuple(ws), tuple(bs), np.zeros(n_in), np.ones(n_in), math.inf, low, high,
                       output, tuple(acts[:-1]))

    def source(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            y = module(torch.as_tensor(obs, dtype=torch.float32)).numpy().astype(np.float64)
        if output == "tanh":
            return low + 0.5 * (y + 1.0) * (high - low)
        return np.clip(y, low, high)

    return actor, source, "torchscript"


def read_torch_actor(path: Path, low: np.ndarray, high: np.ndarray
                     ) -> tuple[FloatActor, SourceFn, str]:
    """The actor in ``path``, a function computing the source's own actions for a batch of
    observations (for the import check) and the kind of source it was.

    :param low: the env's action bounds (used where the network does not scale itself)
    """
    if not path.is_file():
        raise ModelFormatError(f"torch file '{path}' does not exist")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 -- not a state_dict: try TorchScript next
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001
            raise ModelFormatError(f"{path}: neither a state_dict nor TorchScript "
                                   f"({str(exc).splitlines()[0]})") from None
        return _script(module.eval(), low, high)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFormatError(f"{path}: not a state_dict of tensors")
    sd = {k: v.float() for k, v in state.items()}
    if "fc_mu.weight" in sd:
        return _cleanrl_tanh(sd, "fc_mu")
    if "fc_mean.weight" in sd:
        return _cleanrl_tanh(sd, "fc_mean")
    if any(k.startswith("actor_mean.") for k in sd):
        return _cleanrl_ppo(sd, low, high)
    raise ConfigError(f"{path}: state_dict keys {sorted(sd)[:6]} are not a CleanRL actor "
                      "(fc1.., fc_mu or fc_mean, action_scale, action_bias; or actor_mean.<i>)")
