"""The quantized policy as data: what a ``.qhil`` blob holds, before it is bytes.

Device side (integers only): per layer the weight codes, int32 biases and per-channel
requantization ``(m, n)``; the tanh table. Host side (floats, never sent to the math):
the input quantizer (per-feature centre and step) and the output dequantizer.
Semantics: ``docs/quantization.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qhil.common.errors import ModelFormatError
from qhil.quant.config import BitConfig

__all__ = ["QuantLayer", "QuantModel", "code_range", "weight_limit", "ACC_LIMIT"]

#: Largest accumulator magnitude any layer may reach: int32 without overflow.
ACC_LIMIT = (1 << 31) - 1


def weight_limit(bits: int) -> int:
    """Largest weight code magnitude: symmetric narrow range ``[-(2**(b-1)-1), 2**(b-1)-1]``."""
    return (1 << (bits - 1)) - 1


def code_range(bits: int, relu: bool) -> tuple[int, int]:
    """Output code range of a layer: unsigned ``[0, 2**b-1]`` after ReLU, else signed full range."""
    if relu:
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass
class QuantLayer:
    """One fully connected layer in integers.

    :param weights: int8 codes ``[n_out, n_in]`` in ``[-weight_limit(w_bits), weight_limit]``
    :param w_bits: weight width, 2..8
    :param bias: int32 ``[n_out]``, in accumulator units
    :param mult: int32 ``[n_out]``, 0 or in ``[2**30, 2**31-1]``
    :param shift: int32 ``[n_out]``, in ``[1, 62]``
    :param out_bits: output code width, 2..8
    :param relu: hidden layer (unsigned ReLU codes) or output layer (signed codes)
    """

    weights: np.ndarray
    w_bits: int
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    out_bits: int
    relu: bool

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def out_range(self) -> tuple[int, int]:
        return code_range(self.out_bits, self.relu)

    def acc_bound(self, in_max: int) -> int:
        """Worst-case ``|accumulator|`` for inputs with ``|x| <= in_max``."""
        row = np.abs(self.weights.astype(np.int64)).sum(axis=1) * in_max
        return int((row + np.abs(self.bias.astype(np.int64))).max())


@dataclass
class QuantModel:
    """A complete integer policy plus the host-side input and output converters."""

    layers: list[QuantLayer]
    in_bits: int
    in_center: np.ndarray  # float32 [obs_dim]: raw observation that maps to code 0
    in_step: np.ndarray  # float32 [obs_dim]: raw observation units per code step (> 0)
    output: Literal["tanh", "clip"]
    out_bits: int  # width of the tanh table's action codes
    out_scale: float  # pre-activation units per last-layer code step
    action_low: np.ndarray  # float32 [act_dim]
    action_high: np.ndarray  # float32 [act_dim]
    lut: np.ndarray | None = None  # int16 [2**a_last] for tanh outputs
    env_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def obs_dim(self) -> int:
        return self.layers[0].n_in

    @property
    def action_dim(self) -> int:
        return self.layers[-1].n_out

    @property
    def in_limit(self) -> int:
        return (1 << (self.in_bits - 1)) - 1

    @property
    def bits(self) -> BitConfig:
        return BitConfig(tuple(layer.w_bits for layer in self.layers),
                         tuple(layer.out_bits for layer in self.layers),
                         self.in_bits, self.out_bits)

    @property
    def n_macs(self) -> int:
        return sum(layer.n_in * layer.n_out for layer in self.layers)

    @property
    def weight_bytes(self) -> int:
        """Bytes of packed weight codes (rows byte-aligned, as in the blob)."""
        return sum(layer.n_out * ((layer.n_in * layer.w_bits + 7) // 8) for layer in self.layers)

    def input_bound(self, index: int) -> int:
        """Largest input code magnitude layer ``index`` can receive."""
        if index == 0:
            return self.in_limit
        return (1 << self.layers[index - 1].out_bits) - 1

    def validate(self) -> None:
        """Check every invariant the blob reader and the firmware rely on."""
        if not 1 <= len(self.layers) <= 8:
            raise ModelFormatError(f"{len(self.layers)} layers; 1..8 supported")
        self.bits  # range checks on every width  # noqa: B018
        prev = self.layers[0].n_in
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            if layer.n_in != prev or not 1 <= layer.n_in <= 1024 or not 1 <= layer.n_out <= 1024:
                raise ModelFormatError(f"layer {i}: shape {layer.weights.shape} breaks the chain")
            if layer.relu == last:
                raise ModelFormatError(f"layer {i}: hidden layers use ReLU, the last does not")
            lim = weight_limit(layer.w_bits)
            if np.abs(layer.weights.astype(np.int64)).max(initial=0) > lim:
                raise ModelFormatError(f"layer {i}: weight code outside +-{lim}")
            for name, arr in (("bias", layer.bias), ("mult", layer.mult), ("shift", layer.shift)):
                if arr.shape != (layer.n_out,):
                    raise ModelFormatError(f"layer {i}: {name} has shape {arr.shape}")
            m = layer.mult.astype(np.int64)
            if np.any((m != 0) & ((m < 1 << 30) | (m > (1 << 31) - 1))):
                raise ModelFormatError(f"layer {i}: multiplier outside [2**30, 2**31-1]")
            if np.any((layer.shift < 1) | (layer.shift > 62)):
                raise ModelFormatError(f"layer {i}: shift outside 1..62")
            bound = layer.acc_bound(self.input_bound(i))
            if bound > ACC_LIMIT:
                raise ModelFormatError(
                    f"layer {i}: worst-case accumulator {bound} overflows int32; "
                    "use fewer input bits or a narrower layer")
            prev = layer.n_out
        if self.in_center.shape != (self.obs_dim,) or self.in_step.shape != (self.obs_dim,):
            raise ModelFormatError("input centre/step must have one entry per observation feature")
        if not (np.all(np.isfinite(self.in_center)) and np.all(np.isfinite(self.in_step))
                and np.all(self.in_step > 0)):
            raise ModelFormatError("input steps must be finite and positive")
        if self.action_low.shape != (self.action_dim,) or self.action_high.shape != (self.action_dim,):
            raise ModelFormatError("action bounds must have one entry per action")
        if self.output == "tanh":
            size = 1 << self.layers[-1].out_bits
            qout = (1 << (self.out_bits - 1)) - 1
            if self.lut is None or self.lut.shape != (size,):
                raise ModelFormatError(f"tanh table must have {size} entries")
            if np.abs(self.lut.astype(np.int64)).max() > qout:
                raise ModelFormatError(f"tanh table entry outside +-{qout}")
        elif self.output != "clip":
            raise ModelFormatError(f"unknown output kind '{self.output}'")
        if not (np.isfinite(self.out_scale) and self.out_scale > 0):
            raise ModelFormatError("output scale must be finite and positive")
