"""TensorFlow Lite Micro's requantization, for models in the ``tflite`` arithmetic.

``requantize_tflite(acc, m, e) = RDBPOT(SRDHM(acc * 2**max(e, 0), m), max(-e, 0))``

- ``SRDHM(a, m)``, the saturating rounding doubling high multiply: the 64-bit product
  ``a * m`` plus ``2**30`` (``1 - 2**30`` when the product is negative), divided by
  ``2**31`` truncating toward zero. (Its saturation, ``a = m = -2**31``, cannot happen:
  ``m >= 0``.)
- ``RDBPOT(x, r)``, the rounding divide by a power of two: ``floor(x / 2**r)`` plus one
  when the remainder ``x mod 2**r`` exceeds ``2**(r-1) - 1``, or ``2**(r-1)`` when
  ``x < 0`` (ties away from zero, on the already rounded ``x``).

Two roundings, so it differs from qhil's own one-rounding rule (:mod:`qhil.quant.requant`)
by one step on about a tenth of the rows of a typical layer: the two are different
arithmetics, kept apart by the model's ``arithmetic`` field. The C twin is
``qhil_nn_requantize_tflite()`` in ``firmware/include/qhil_nn_support.h``. Spec:
``docs/quantization.md#the-tflite-arithmetic``.
"""

from __future__ import annotations

import math

import numpy as np

from qhil.common.errors import ConfigError

__all__ = ["requantize_tflite", "quantize_multiplier_tflite", "EXP_MIN", "EXP_MAX"]

#: The exponent ``e`` a tflite layer may store: ``2**e`` scales, ``e > 0`` a left shift.
EXP_MIN, EXP_MAX = -31, 30


def _trunc_div_2_31(p: np.ndarray) -> np.ndarray:
    """``p / 2**31`` truncated toward zero, as C's integer division does."""
    return np.where(p >= 0, p >> 31, -((-p) >> 31))


def requantize_tflite(acc: np.ndarray, m: np.ndarray, e: np.ndarray) -> np.ndarray:
    """TFLM's ``MultiplyByQuantizedMultiplier`` on int accumulators ``acc[..., C]``.

    The caller guarantees ``|acc| * 2**max(e, 0) <= 2**31 - 1`` (the model's accumulator
    bound checks it), so the left shift never overflows int32.

    :return: int64 array, before the output zero point and the clamp
    """
    a = acc.astype(np.int64)
    e64 = e.astype(np.int64)
    a = a << np.maximum(e64, 0)
    prod = a * m.astype(np.int64)
    prod += np.where(prod >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    x = _trunc_div_2_31(prod)
    r = np.maximum(-e64, 0)
    mask = (np.int64(1) << r) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> r) + (remainder > threshold)


def quantize_multiplier_tflite(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real`` as ``m * 2**e / 2**31``.

    ``m`` is ``round(f * 2**31)`` (ties away from zero) of ``real = f * 2**e``,
    ``f in [0.5, 1)``; a mantissa rounding up to 1 halves ``m`` and adds one to ``e``;
    ``e < -31`` gives ``(0, 0)`` and ``e > 30`` is refused (TFLite clamps it, which
    changes the model).
    """
    if not math.isfinite(real) or real < 0:
        raise ConfigError(f"requantization multiplier {real!r} is not a finite positive number")
    if real == 0:
        return 0, 0
    f, e = math.frexp(real)
    m = int(math.floor(f * (1 << 31) + 0.5))
    if m == 1 << 31:
        m //= 2
        e += 1
    if e < EXP_MIN:
        return 0, 0
    if e > EXP_MAX:
        raise ConfigError(f"requantization multiplier {real:.6g} is too large (>= 2**30)")
    return m, e
