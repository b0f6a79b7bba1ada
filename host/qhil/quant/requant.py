"""Fixed-point requantization: the one rounding rule shared by host and firmware.

``requantize(acc, m, n) = saturate(round_half_away(acc * m / 2**n), lo, hi)``

- ``acc``: int32 accumulator, ``|acc| <= 2**31 - 1``
- ``m``: int32 multiplier, either 0 or in ``[2**30, 2**31 - 1]`` (a 31-bit mantissa)
- ``n``: right shift in ``[1, 62]``

The 64-bit product ``acc * m`` (``|.| < 2**62``) is divided by ``2**n`` with ONE rounding
step, half away from zero. TFLite Micro's ``MultiplyByQuantizedMultiplier`` rounds twice
(doubling high multiply, then rounding shift), which can differ by one step on exact ties;
one rounding step makes the result the correctly rounded value of the rational
``acc * m / 2**n``, so a float simulation agrees with it except on ties. The C twin is
``qhil_nn_requantize()`` in ``firmware/include/qhil_nn_support.h``. Spec:
``docs/quantization.md#requantization``.
"""

from __future__ import annotations

import math

import numpy as np

from qhil.common.errors import ConfigError

__all__ = ["quantize_multiplier", "quantize_multipliers", "requantize", "round_half_away",
           "MULT_MIN", "MULT_MAX", "SHIFT_MIN", "SHIFT_MAX"]

MULT_MIN = 1 << 30
MULT_MAX = (1 << 31) - 1
SHIFT_MIN = 1
SHIFT_MAX = 62


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round float values to the nearest integer, ties away from zero (C's ``round``)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Represent a positive real multiplier as ``m / 2**n`` (see module docstring).

    Multipliers so small that ``|acc| * M < 0.5`` for every int32 ``acc`` (``M < 2**-32``)
    become ``(0, 31)``: the exact result is 0 either way.

    :raises ConfigError: when ``real`` is not finite, negative, or ``>= 2**30``
    """
    if not math.isfinite(real) or real < 0:
        raise ConfigError(f"requantization multiplier {real!r} is not a finite positive number")
    if real < 2.0**-32:
        return 0, 31
    mantissa, exponent = math.frexp(real)  # real = mantissa * 2**exponent, mantissa in [0.5, 1)
    m = round(mantissa * (1 << 31))
    n = 31 - exponent
    if m == 1 << 31:  # mantissa rounded up to 1.0
        m //= 2
        n -= 1
    if n < SHIFT_MIN:
        raise ConfigError(f"requantization multiplier {real:.6g} is too large (>= 2**30)")
    if n > SHIFT_MAX:  # only reachable for real < 2**-31, handled above with margin
        return 0, 31
    return m, n


def quantize_multipliers(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized :func:`quantize_multiplier`: int64 arrays ``(m, n)`` for each entry of ``real``."""
    real = np.asarray(real, dtype=np.float64)
    if not np.all(np.isfinite(real)) or np.any(real < 0):
        raise ConfigError("requantization multipliers must be finite and non-negative")
    if np.any(real >= 2.0**30):
        raise ConfigError(f"requantization multiplier {real.max():.6g} is too large (>= 2**30)")
    mantissa, exponent = np.frexp(real)
    m = np.round(mantissa * 2.0**31).astype(np.int64)  # exact: mantissa has 53 bits
    n = 31 - exponent.astype(np.int64)
    carry = m == 1 << 31
    m = np.where(carry, m // 2, m)
    n = np.where(carry, n - 1, n)
    tiny = real < 2.0**-32
    return np.where(tiny, 0, m), np.where(tiny, 31, n)


def requantize(acc: np.ndarray, m: np.ndarray, n: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Vectorized requantization of int accumulators ``acc[..., C]`` with per-channel ``m, n``.

    Uses ``round_half_away(p / 2**n) == (p + 2**(n-1) - [p < 0]) >> n`` (arithmetic shift,
    i.e. floor): for ``p >= 0`` it is round-half-up; for ``p < 0`` subtracting one before
    the floor turns a tie into the step away from zero and leaves every other value alone.

    :return: int64 array of codes in ``[lo, hi]``
    """
    prod = acc.astype(np.int64) * m.astype(np.int64)
    n64 = n.astype(np.int64)
    if lo >= 0:
        # Every negative product lands at or below 0 either way and is clamped to lo >= 0,
        # so the tie correction for negatives cannot change the result: skip two passes.
        prod += np.left_shift(np.int64(1), n64 - 1)
    else:
        negative = prod < 0
        prod += np.left_shift(np.int64(1), n64 - 1)
        prod -= negative
    prod >>= n64
    np.maximum(prod, lo, out=prod)
    np.minimum(prod, hi, out=prod)
    return prod
