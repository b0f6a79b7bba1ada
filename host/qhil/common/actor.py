"""The float actor as plain numpy: the one forward pass every other module uses.

A trained policy is a deterministic MLP ``obs -> action``:

1. normalize: ``z = clip((obs - obs_mean) / obs_std, -obs_clip, obs_clip)``
2. hidden layers: ``h = act(W h + b)``, ``act`` per layer: ReLU, tanh or identity
3. output layer: ``y = W h + b`` then ``tanh`` (TD3/SAC) or identity (PPO)
4. action: ``low + (y + 1) / 2 * (high - low)`` for tanh outputs, ``clip(y, low, high)``
   for identity outputs -- exactly what stable-baselines3's ``predict`` does.

Computation is float64 so that this reference is the most accurate thing in the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

import numpy as np

from qhil.common.errors import ModelFormatError

__all__ = ["FloatActor", "OutputKind", "Activation"]

OutputKind = Literal["tanh", "clip"]


class Activation(Enum):
    """A hidden layer's activation; the value is its name in meta.json and in texts."""

    RELU = "relu"
    TANH = "tanh"
    IDENTITY = "identity"

    def apply(self, h: np.ndarray) -> np.ndarray:
        if self is Activation.RELU:
            return np.maximum(h, 0.0)
        if self is Activation.TANH:
            return np.tanh(h)
        return h

    @classmethod
    def parse(cls, name: str) -> Activation:
        try:
            return cls(name)
        except ValueError:
            raise ModelFormatError(f"unknown activation '{name}' (relu, tanh or identity)") from None


@dataclass(frozen=True)
class FloatActor:
    """A deterministic MLP actor.

    :param weights: one ``[out, in]`` matrix per layer, last one is the output layer
    :param biases: one ``[out]`` vector per layer
    :param obs_mean: per-feature observation mean subtracted before the first layer
    :param obs_std: per-feature observation std (strictly positive)
    :param obs_clip: clip of the normalized observation, ``inf`` for none
    :param action_low: lower action bound of the env (finite)
    :param action_high: upper action bound of the env (finite)
    :param output: ``"tanh"`` (squashed, rescaled to bounds) or ``"clip"``
    :param activations: one per hidden layer; empty means ReLU everywhere
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    obs_mean: np.ndarray
    obs_std: np.ndarray
    obs_clip: float
    action_low: np.ndarray
    action_high: np.ndarray
    output: OutputKind = "tanh"
    activations: tuple[Activation, ...] = ()

    def __post_init__(self) -> None:
        if not self.weights or len(self.weights) != len(self.biases):
            raise ModelFormatError("actor needs one bias per weight matrix and at least one layer")
        prev = self.weights[0].shape[1]
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],) or w.shape[1] != prev:
                raise ModelFormatError(
                    f"layer {i}: weight {w.shape} / bias {b.shape} do not chain from width {prev}"
                )
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise ModelFormatError(f"layer {i} holds NaN or inf parameters")
            prev = w.shape[0]
        n_in, n_out = self.obs_dim, self.action_dim
        if self.obs_mean.shape != (n_in,) or self.obs_std.shape != (n_in,):
            raise ModelFormatError(f"observation normalization must have shape ({n_in},)")
        if not np.all(np.isfinite(self.obs_mean)):
            raise ModelFormatError("observation mean must be finite")
        if np.any(self.obs_std <= 0) or not np.all(np.isfinite(self.obs_std)):
            raise ModelFormatError("observation std must be finite and positive")
        if not self.obs_clip > 0:  # NaN fails too; +inf is "no clip"
            raise ModelFormatError("observation clip must be positive (inf for none)")
        if self.action_low.shape != (n_out,) or self.action_high.shape != (n_out,):
            raise ModelFormatError(f"action bounds must have shape ({n_out},)")
        if not (np.all(np.isfinite(self.action_low)) and np.all(np.isfinite(self.action_high))
                and np.all(self.action_high > self.action_low)):
            raise ModelFormatError("action bounds must be finite with high > low")
        if self.output not in ("tanh", "clip"):
            raise ModelFormatError(f"unknown output kind '{self.output}'")
        if not self.activations:
            object.__setattr__(self, "activations", (Activation.RELU,) * (len(self.weights) - 1))
        if len(self.activations) != len(self.weights) - 1:
            raise ModelFormatError(f"{len(self.activations)} activations for "
                                   f"{len(self.weights) - 1} hidden layers")

    @property
    def obs_dim(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.weights[-1].shape[0])

    @property
    def layer_sizes(self) -> list[int]:
        """Widths from input to output, e.g. ``[3, 64, 64, 1]``."""
        return [self.obs_dim] + [int(w.shape[0]) for w in self.weights]

    @property
    def n_params(self) -> int:
        return int(sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True)))

    @property
    def n_macs(self) -> int:
        """Multiply-accumulates per inference."""
        return int(sum(w.size for w in self.weights))

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Observation(s) ``[..., obs_dim]`` to the normalized first-layer input."""
        z = (np.asarray(obs, dtype=np.float64) - self.obs_mean) / self.obs_std
        if np.isfinite(self.obs_clip):
            z = np.clip(z, -self.obs_clip, self.obs_clip)
        return z

    def hidden(self, obs: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for ``obs``: hidden activations, then the linear output."""
        return self.layer_values(obs)[1]

    def layer_values(self, obs: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every layer's pre-activation and output for ``obs`` (equal for the last layer)."""
        h = self.normalize(obs)
        pres, outs = [], []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            pre = h @ w.T.astype(np.float64) + b.astype(np.float64)
            h = self.activations[i].apply(pre) if i < last else pre
            pres.append(pre)
            outs.append(h)
        return pres, outs

    def squashed(self, obs: np.ndarray) -> np.ndarray:
        """The output in policy units: ``tanh(y)`` in [-1, 1] or the raw ``y``."""
        y = self.hidden(obs)[-1]
        return np.tanh(y) if self.output == "tanh" else y

    def unsquash(self, y: np.ndarray) -> np.ndarray:
        """Policy-unit output to an env action (rescale for tanh, clip for identity)."""
        if self.output == "tanh":
            return self.action_low + 0.5 * (y + 1.0) * (self.action_high - self.action_low)
        return np.clip(y, self.action_low, self.action_high)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Env action(s) for observation(s) ``[..., obs_dim]``."""
        return self.unsquash(self.squashed(obs))

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{i}"] = w.astype(np.float32)
            arrays[f"b{i}"] = b.astype(np.float32)
        arrays["obs_mean"] = self.obs_mean.astype(np.float64)
        arrays["obs_std"] = self.obs_std.astype(np.float64)
        arrays["action_low"] = self.action_low.astype(np.float64)
        arrays["action_high"] = self.action_high.astype(np.float64)
        return arrays

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], obs_clip: float, output: OutputKind,
        activations: tuple[Activation, ...] = (),
    ) -> FloatActor:
        n_layers = sum(1 for k in arrays if k.startswith("w") and k[1:].isdigit())
        try:
            weights = tuple(np.asarray(arrays[f"w{i}"], dtype=np.float32) for i in range(n_layers))
            biases = tuple(np.asarray(arrays[f"b{i}"], dtype=np.float32) for i in range(n_layers))
            return cls(
                weights=weights,
                biases=biases,
                obs_mean=np.asarray(arrays["obs_mean"], dtype=np.float64),
                obs_std=np.asarray(arrays["obs_std"], dtype=np.float64),
                obs_clip=float(obs_clip),
                action_low=np.asarray(arrays["action_low"], dtype=np.float64),
                action_high=np.asarray(arrays["action_high"], dtype=np.float64),
                output=output,
                activations=activations,
            )
        except KeyError as exc:
            raise ModelFormatError(f"actor arrays lack {exc.args[0]!r}") from None
