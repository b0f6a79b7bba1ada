"""The quantized policy as data: what a ``.qhil`` blob holds, before it is bytes.

Device side (integers only): per layer the weight codes, int32 biases, per-channel
requantization ``(m, n)`` and, for tanh hidden layers, the activation table; the output
tanh table. Host side (floats, never sent to the math):
the input quantizer (per-feature centre and step) and the output dequantizer.
Semantics: ``docs/quantization.md``.

Two arithmetics: qhil's own (``"qhil"``: symmetric codes, one rounding) and TensorFlow
Lite Micro's (``"tflite"``: int8 codes with zero points, TFLM's two roundings, a
fused-activation clamp per layer), for models imported from a ``.tflite`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qhil.common.actor import Activation
from qhil.common.errors import ModelFormatError
from qhil.quant.config import BitConfig
from qhil.quant.tflite_requant import EXP_MAX, EXP_MIN

__all__ = ["QuantLayer", "QuantModel", "code_range", "weight_limit", "ACC_LIMIT",
           "LUT_BITS_MIN", "LUT_BITS_MAX", "MAX_LAYERS", "Arithmetic", "TFLITE_INT8"]

Arithmetic = Literal["qhil", "tflite"]
#: The tflite arithmetic's code range: int8, every tensor.
TFLITE_INT8 = (-128, 127)

#: Largest accumulator magnitude any layer may reach: int32 without overflow.
ACC_LIMIT = (1 << 31) - 1
#: Index widths a tanh hidden layer's table may have (2**K int8 entries).
LUT_BITS_MIN, LUT_BITS_MAX = 2, 10
MAX_LAYERS = 8


def weight_limit(bits: int) -> int:
    """Largest weight code magnitude: symmetric narrow range ``[-(2**(b-1)-1), 2**(b-1)-1]``."""
    return (1 << (bits - 1)) - 1


def code_range(bits: int, relu: bool) -> tuple[int, int]:
    """Output code range of a layer: unsigned ``[0, 2**b-1]`` after ReLU, else signed full range."""
    if relu:
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def tanh_limit(bits: int) -> int:
    """Largest code of a tanh hidden layer's output: ``2**(A-1) - 1`` (symmetric, like tanh)."""
    return (1 << (bits - 1)) - 1


@dataclass
class QuantLayer:
    """One fully connected layer in integers.

    :param weights: int8 codes ``[n_out, n_in]`` in ``[-weight_limit(w_bits), weight_limit]``
    :param w_bits: weight width, 2..8
    :param bias: int32 ``[n_out]``, in accumulator units
    :param mult: int32 ``[n_out]``, 0 or in ``[2**30, 2**31-1]``
    :param shift: int32 ``[n_out]``, in ``[1, 62]``
    :param out_bits: width ``A`` of the codes the layer passes on, 2..8
    :param act: ``RELU`` (unsigned codes), ``TANH`` (table codes in ``±(2**(A-1)-1)``) or
        ``IDENTITY`` (signed full range; always the last layer's)
    :param lut: int8 ``[2**K]`` activation table of a tanh layer (``K`` = :attr:`lut_bits`)
    :param clamp: tflite arithmetic only: ``(out_zero, act_min, act_max)``, the output zero
        point added after requantization and the fused activation's clamp; ``mult`` and
        ``shift`` are then TFLite's multiplier and exponent (:mod:`qhil.quant.tflite_requant`)
    """

    weights: np.ndarray
    w_bits: int
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    out_bits: int
    act: Activation
    lut: np.ndarray | None = None
    clamp: tuple[int, int, int] | None = None

    @property
    def relu(self) -> bool:
        return self.act is Activation.RELU

    @property
    def lut_bits(self) -> int:
        """Index width ``K`` of a tanh layer's table (0 for other layers)."""
        return 0 if self.lut is None else int(self.lut.size).bit_length() - 1

    @property
    def code_bound(self) -> int:
        """Largest ``|code|`` the layer passes on (the next layer's input bound)."""
        if self.clamp is not None:
            return 128
        if self.act is Activation.RELU:
            return (1 << self.out_bits) - 1
        if self.act is Activation.TANH:
            return tanh_limit(self.out_bits)
        return 1 << (self.out_bits - 1)

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def out_range(self) -> tuple[int, int]:
        """Range the requantized accumulator is clamped to (a tanh layer's table index)."""
        if self.clamp is not None:
            return self.clamp[1], self.clamp[2]
        if self.act is Activation.TANH:
            return code_range(self.lut_bits, relu=False)
        return code_range(self.out_bits, self.relu)

    def activate(self, u: np.ndarray) -> np.ndarray:
        """The codes passed on, from the clamped requantized accumulator ``u``."""
        if self.lut is None:
            return u
        return self.lut.astype(np.int64)[u + (1 << (self.lut_bits - 1))]

    def acc_bound(self, in_max: int) -> int:
        """Worst-case ``|accumulator|`` for inputs with ``|x| <= in_max`` (tflite: times
        ``2**e`` of a row whose exponent ``e`` is positive, the left shift before the
        multiply)."""
        row = np.abs(self.weights.astype(np.int64)).sum(axis=1) * in_max
        row += np.abs(self.bias.astype(np.int64))
        if self.clamp is not None:
            row <<= np.maximum(self.shift.astype(np.int64), 0)
        return int(row.max())


@dataclass
class QuantModel:
    """A complete integer policy plus the host-side input and output converters."""

    layers: list[QuantLayer]
    in_bits: int
    in_center: np.ndarray  # float32 [obs_dim]: raw observation that maps to code 0
    in_step: np.ndarray  # float32 [obs_dim]: raw observation units per code step (> 0)
    output: Literal["tanh", "clip", "rescale"]
    out_bits: int  # width of the tanh table's action codes
    out_scale: float  # pre-activation units per last-layer code step
    action_low: np.ndarray  # float32 [act_dim]
    action_high: np.ndarray  # float32 [act_dim]
    lut: np.ndarray | None = None  # int16 [2**a_last] for tanh outputs
    env_id: str = ""
    #: tflite: ``in_center``/``in_step`` hold the input zero point and scale (every entry
    #: the same), ``out_zero`` the answer's zero point; ``output`` ``"clip"`` or
    #: ``"rescale"`` (from [-1, 1] to the action bounds)
    arithmetic: Arithmetic = "qhil"
    out_zero: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def obs_dim(self) -> int:
        return self.layers[0].n_in

    @property
    def action_dim(self) -> int:
        return self.layers[-1].n_out

    @property
    def in_limit(self) -> int:
        """Largest input code magnitude (tflite: 128, the int8 range's)."""
        if self.arithmetic == "tflite":
            return 128
        return (1 << (self.in_bits - 1)) - 1

    @property
    def in_range(self) -> tuple[int, int]:
        """The input codes a device accepts."""
        if self.arithmetic == "tflite":
            return TFLITE_INT8
        return -self.in_limit, self.in_limit

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
        return self.layers[index - 1].code_bound

    @property
    def activations(self) -> tuple[Activation, ...]:
        return tuple(layer.act for layer in self.layers[:-1])

    def validate(self) -> None:
        """Check every invariant the blob reader and the firmware rely on."""
        if not 1 <= len(self.layers) <= MAX_LAYERS:
            raise ModelFormatError(f"{len(self.layers)} layers; 1..{MAX_LAYERS} supported")
        self.bits  # range checks on every width  # noqa: B018
        tflite = self.arithmetic == "tflite"
        if self.arithmetic not in ("qhil", "tflite"):
            raise ModelFormatError(f"unknown arithmetic '{self.arithmetic}'")
        prev = self.layers[0].n_in
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            if layer.n_in != prev or not 1 <= layer.n_in <= 1024 or not 1 <= layer.n_out <= 1024:
                raise ModelFormatError(f"layer {i}: shape {layer.weights.shape} breaks the chain")
            if last and layer.act is not Activation.IDENTITY and not tflite:
                raise ModelFormatError(f"layer {i}: the last layer has no activation "
                                       f"(the output mapping follows it), not {layer.act.value}")
            if layer.act is Activation.TANH:
                self._check_table(i, layer)
            elif layer.lut is not None:
                raise ModelFormatError(f"layer {i}: a {layer.act.value} layer has no table")
            lim = weight_limit(layer.w_bits)
            if np.abs(layer.weights.astype(np.int64)).max(initial=0) > lim:
                raise ModelFormatError(f"layer {i}: weight code outside +-{lim}")
            for name, arr in (("bias", layer.bias), ("mult", layer.mult), ("shift", layer.shift)):
                if arr.shape != (layer.n_out,):
                    raise ModelFormatError(f"layer {i}: {name} has shape {arr.shape}")
            m = layer.mult.astype(np.int64)
            if np.any((m != 0) & ((m < 1 << 30) | (m > (1 << 31) - 1))):
                raise ModelFormatError(f"layer {i}: multiplier outside [2**30, 2**31-1]")
            if tflite:
                self._check_tflite_layer(i, layer)
            elif layer.clamp is not None:
                raise ModelFormatError(f"layer {i}: zero points and clamps need the tflite "
                                       "arithmetic")
            elif np.any((layer.shift < 1) | (layer.shift > 62)):
                raise ModelFormatError(f"layer {i}: shift outside 1..62")
            bound = layer.acc_bound(self.input_bound(i))
            if bound > ACC_LIMIT:
                raise ModelFormatError(
                    f"layer {i}: worst-case accumulator {bound} overflows int32; "
                    "use fewer input bits or a narrower layer")
            prev = layer.n_out
        if self.in_center.shape != (self.obs_dim,) or self.in_step.shape != (self.obs_dim,):
            raise ModelFormatError("input centre/step must have one entry per observation feature")
        if not np.all(np.isfinite(self.in_center)):
            raise ModelFormatError("input centres must be finite")
        if not (np.all(np.isfinite(self.in_step)) and np.all(self.in_step > 0)):
            raise ModelFormatError("input steps must be finite and positive")
        if self.action_low.shape != (self.action_dim,) or self.action_high.shape != (self.action_dim,):
            raise ModelFormatError("action bounds must have one entry per action")
        if tflite:
            self._check_tflite_io()
        elif self.output == "tanh":
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

    @staticmethod
    def _check_tflite_layer(i: int, layer: QuantLayer) -> None:
        if (layer.w_bits, layer.out_bits) != (8, 8):
            raise ModelFormatError(f"layer {i}: the tflite arithmetic is int8 weights and codes, "
                                   f"not w={layer.w_bits} a={layer.out_bits}")
        if layer.act is Activation.RELU:
            raise ModelFormatError(f"layer {i}: a tflite layer's activation is its clamp "
                                   "(identity) or a table (tanh), not relu")
        if layer.clamp is None:
            raise ModelFormatError(f"layer {i}: a tflite layer needs its zero point and clamp")
        zero, lo, hi = layer.clamp
        if not all(TFLITE_INT8[0] <= v <= TFLITE_INT8[1] for v in layer.clamp) or lo > hi:
            raise ModelFormatError(f"layer {i}: zero point {zero} and clamp [{lo}, {hi}] must "
                                   "be int8 with min <= max")
        if np.any((layer.shift < EXP_MIN) | (layer.shift > EXP_MAX)):
            raise ModelFormatError(f"layer {i}: exponent outside {EXP_MIN}..{EXP_MAX}")

    def _check_tflite_io(self) -> None:
        if self.in_bits != 8 or self.out_bits != 8:
            raise ModelFormatError("the tflite arithmetic has 8-bit input and output codes")
        if self.output not in ("clip", "rescale") or self.lut is not None:
            raise ModelFormatError(f"a tflite model's output is linear (clip or rescale), "
                                   f"not '{self.output}'")
        zero = self.in_center
        if np.any(zero != zero[0]) or np.any(self.in_step != self.in_step[0]):
            raise ModelFormatError("a tflite model's input has one zero point and one scale")
        for name, z in (("input", float(zero[0])), ("output", float(self.out_zero))):
            if z != round(z) or not TFLITE_INT8[0] <= z <= TFLITE_INT8[1]:
                raise ModelFormatError(f"{name} zero point {z} is not an int8 integer")

    @staticmethod
    def _check_table(i: int, layer: QuantLayer) -> None:
        lut = layer.lut
        if lut is None or lut.ndim != 1 or lut.size & (lut.size - 1):
            raise ModelFormatError(f"layer {i}: a tanh layer needs a table of 2**K entries")
        if not LUT_BITS_MIN <= layer.lut_bits <= LUT_BITS_MAX:
            raise ModelFormatError(f"layer {i}: table index width {layer.lut_bits} outside "
                                   f"{LUT_BITS_MIN}..{LUT_BITS_MAX}")
        if layer.clamp is not None:  # tflite: int8 tables indexed by the whole int8 range
            if layer.lut_bits != 8:
                raise ModelFormatError(f"layer {i}: a tflite table has 256 entries")
            return
        lim = tanh_limit(layer.out_bits)
        if np.abs(lut.astype(np.int64)).max() > lim:
            raise ModelFormatError(f"layer {i}: table entry outside +-{lim}")
