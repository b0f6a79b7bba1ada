"""The golden integer executor: the reference the firmware must match bit for bit.

Pure integer semantics (``docs/quantization.md``), batched over observations. The
matrix products run in floating point, exactly: the exporter proves a bound ``A`` on
every accumulator of a layer (``sum |w| * max|x| + |bias|``), so every product and
partial sum is an integer of magnitude at most ``A``. Such integers are represented
exactly in float32 when ``A < 2**24`` and in float64 when ``A < 2**53``, whatever order
BLAS sums in, so the result is the exact integer accumulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qhil.quant.qmodel import QuantModel
from qhil.quant.requant import requantize
from qhil.quant.tflite_requant import requantize_tflite

__all__ = ["GoldenExecutor"]

_F32_EXACT = 1 << 24


@dataclass(frozen=True)
class _Layer:
    weights_t: np.ndarray  # [n_in, n_out], float32 or float64, integer-valued
    bias: np.ndarray
    mult: np.ndarray  # int64
    shift: np.ndarray  # int64
    lo: int
    hi: int
    scale: np.ndarray | None  # float64 m / 2**n when the float requantization is exact
    lut: np.ndarray | None  # int64 tanh table of a tanh hidden layer
    lut_offset: int
    zero: int | None  # tflite: the output zero point (TFLM's requantization)


def _float_requant_is_exact(bound: int, mult: np.ndarray, shift: np.ndarray, lo: int,
                            hi: int) -> bool:
    """Whether ``clip(floor(acc * m/2**n + 0.5), lo, hi)`` in float64 equals the spec.

    - ``|acc * m| <= bound * max(m) < 2**53``: the product is exact in float64, and
      scaling by ``2**-n`` is exact;
    - ``lo == 0`` (ReLU): negative values clamp to 0, so half-up equals half-away there;
    - ``n <= 44`` and ``hi < 2**9``: below ``2**9`` the sum ``r + 0.5`` has an ulp of at
      most ``2**-44``, no coarser than ``r``'s lowest bit, so it is exact; at or above
      ``2**9`` the result saturates to ``hi`` whichever way it rounds.
    """
    return (lo == 0 and hi < 512 and int(shift.max()) <= 44
            and bound * int(mult.max(initial=0)) < 2**53)


class GoldenExecutor:
    """Runs a :class:`QuantModel` on integer observation codes."""

    #: Rows per block in batched runs: keeps temporaries in cache instead of page-faulting
    #: gigabytes of int64 for a million observations.
    CHUNK = 4096

    def __init__(self, model: QuantModel) -> None:
        model.validate()
        self.model = model
        self._layers = []
        for i, layer in enumerate(model.layers):
            bound = layer.acc_bound(model.input_bound(i))
            dtype = np.float32 if bound < _F32_EXACT else np.float64
            mult = layer.mult.astype(np.int64)
            shift = layer.shift.astype(np.int64)
            lo, hi = layer.out_range
            zero = None if layer.clamp is None else layer.clamp[0]
            exact = zero is None and _float_requant_is_exact(bound, mult, shift, lo, hi)
            scale = mult / np.exp2(shift) if exact else None
            lut = None if layer.lut is None else layer.lut.astype(np.int64)
            self._layers.append(_Layer(layer.weights.astype(dtype).T.copy(),
                                       layer.bias.astype(dtype), mult, shift, lo, hi, scale,
                                       lut, 1 << (layer.lut_bits - 1) if lut is not None else 0,
                                       zero))
        self._lut = None if model.lut is None else model.lut.astype(np.int64)
        self._lut_offset = 1 << (model.layers[-1].out_bits - 1)

    def _forward(self, x: np.ndarray, keep_all: bool) -> list[np.ndarray]:
        outs = []
        h = x
        for layer in self._layers:
            acc = h.astype(layer.weights_t.dtype) @ layer.weights_t
            acc += layer.bias
            if layer.scale is not None:
                r = np.multiply(acc, layer.scale, dtype=np.float64)
                r += 0.5
                np.floor(r, out=r)
                np.maximum(r, layer.lo, out=r)  # np.clip costs ~10x more per call on small rows
                np.minimum(r, layer.hi, out=r)
                h = r
            elif layer.zero is not None:
                h = requantize_tflite(acc.astype(np.int64), layer.mult, layer.shift)
                h += layer.zero
                np.maximum(h, layer.lo, out=h)
                np.minimum(h, layer.hi, out=h)
            else:
                h = requantize(acc.astype(np.int64), layer.mult, layer.shift, layer.lo, layer.hi)
            if layer.lut is not None:
                h = layer.lut[h.astype(np.int64) + layer.lut_offset]
            if keep_all:
                outs.append(h.astype(np.int64))
        return outs if keep_all else [h.astype(np.int64)]

    def _run(self, x: np.ndarray, keep_all: bool) -> list[np.ndarray]:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.model.obs_dim:
            raise ValueError(f"expected input codes [B, {self.model.obs_dim}], got {x.shape}")
        lo, hi = self.model.in_range
        if x.size and (x.max() > hi or x.min() < lo):
            flat = np.flatnonzero(((x > hi) | (x < lo)).any(axis=0))
            raise ValueError(f"input code outside [{lo}, {hi}] at index {int(flat[0])} (the "
                             "device answers BAD_INPUT; docs/quantization.md#input-codes-host)")
        if x.shape[0] <= self.CHUNK:
            return self._forward(x, keep_all)
        blocks = [self._forward(x[i : i + self.CHUNK], keep_all)
                  for i in range(0, x.shape[0], self.CHUNK)]
        return [np.concatenate(parts) for parts in zip(*blocks, strict=True)]

    def layer_codes(self, x: np.ndarray) -> list[np.ndarray]:
        """Output codes of every layer for input codes ``x`` ``[B, obs_dim]`` (int)."""
        return self._run(x, keep_all=True)

    def preactivation(self, x: np.ndarray) -> np.ndarray:
        """Last layer's signed codes (the tanh table index minus its offset)."""
        return self._run(x, keep_all=False)[0]

    def action_codes(self, x: np.ndarray) -> np.ndarray:
        """What the device answers: tanh-table codes, or the last layer's codes for linear outputs.

        :param x: int observation codes ``[B, obs_dim]`` or ``[obs_dim]``
        :return: int64 ``[B, act_dim]`` (or ``[act_dim]``)
        """
        x = np.asarray(x)
        single = x.ndim == 1
        u = self.preactivation(x[None, :] if single else x)
        codes = u if self._lut is None else self._lut[u + self._lut_offset]
        return codes[0] if single else codes
