"""Bit-width configuration of a quantized policy: one width per layer, chosen per layer.

Text form (any order, missing keys take defaults, one value broadcasts to every layer)::

    w=8,3,8 a=8,3,8 in=10 out=16

- ``w``: weight widths, one per layer (2..8 bits, symmetric, one scale per output channel)
- ``a``: output-code widths, one per layer (2..8 bits). For hidden layers the unsigned
  ReLU activation code; for the last layer the signed pre-activation code that indexes
  the tanh table (or, for linear outputs, the action code itself)
- ``in``: observation code width (2..16 bits, signed, one scale per feature)
- ``out``: width of the tanh table's action codes (2..16 bits, signed)

Shorthands: ``int8`` (every width 8), ``wXaY`` and ``wXaYiZ`` (uniform widths; ``in``
defaults to 8), e.g. ``w3a3i12``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qhil.common.errors import ConfigError

__all__ = ["BitConfig", "parse_bits", "W_RANGE", "A_RANGE", "IN_RANGE", "OUT_RANGE"]

W_RANGE = (2, 8)
A_RANGE = (2, 8)
IN_RANGE = (2, 16)
OUT_RANGE = (2, 16)

_SHORTHAND = re.compile(r"^w(\d+)a(\d+)(?:i(\d+))?(?:o(\d+))?$")


@dataclass(frozen=True)
class BitConfig:
    """Widths for an ``n_layers``-layer policy (see module docstring)."""

    w: tuple[int, ...]
    a: tuple[int, ...]
    in_bits: int = 8
    out_bits: int = 16

    def __post_init__(self) -> None:
        if not self.w or len(self.w) != len(self.a):
            raise ConfigError(f"w and a need one width per layer, got w={self.w} a={self.a}")
        for name, values, (lo, hi) in (("w", self.w, W_RANGE), ("a", self.a, A_RANGE),
                                       ("in", (self.in_bits,), IN_RANGE),
                                       ("out", (self.out_bits,), OUT_RANGE)):
            for v in values:
                if not lo <= v <= hi:
                    raise ConfigError(f"{name} width {v} is outside {lo}..{hi} bits")

    @property
    def n_layers(self) -> int:
        return len(self.w)

    def __str__(self) -> str:
        return (f"w={','.join(map(str, self.w))} a={','.join(map(str, self.a))} "
                f"in={self.in_bits} out={self.out_bits}")

    @property
    def short(self) -> str:
        """Compact name: ``w3a3i8`` when uniform, else the full text form without spaces."""
        if len(set(self.w)) == 1 and len(set(self.a)) == 1 and self.out_bits == 16:
            return f"w{self.w[0]}a{self.a[0]}i{self.in_bits}"
        return str(self).replace(" ", "_").replace("=", "")

    @classmethod
    def uniform(cls, n_layers: int, w: int, a: int, in_bits: int = 8, out_bits: int = 16
                ) -> BitConfig:
        return cls((w,) * n_layers, (a,) * n_layers, in_bits, out_bits)


def _widths(key: str, text: str, n_layers: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"'{key}={text}': widths must be integers") from None
    if len(values) == 1:
        return values * n_layers
    if len(values) != n_layers:
        raise ConfigError(f"'{key}={text}' lists {len(values)} widths for a {n_layers}-layer policy")
    return values


def parse_bits(text: str, n_layers: int) -> BitConfig:
    """Parse a bit configuration for a policy with ``n_layers`` linear layers.

    :raises ConfigError: on unknown keys, wrong counts or out-of-range widths
    """
    text = text.strip()
    if text == "int8":
        return BitConfig.uniform(n_layers, 8, 8, 8)
    if m := _SHORTHAND.match(text):
        w, a, i, o = m.groups()
        return BitConfig.uniform(n_layers, int(w), int(a), int(i or 8), int(o or 16))
    values: dict[str, str] = {}
    for part in re.split(r"[\s;]+", text):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or key not in ("w", "a", "in", "out"):
            raise ConfigError(f"bad bit setting '{part}' (expected w=.., a=.., in=.., out=..)")
        if key in values:
            raise ConfigError(f"'{key}' given twice in '{text}'")
        values[key] = value
    if not values:
        raise ConfigError("empty bit configuration")
    try:
        in_bits = int(values.get("in", "8"))
        out_bits = int(values.get("out", "16"))
    except ValueError:
        raise ConfigError(f"in/out widths must be integers in '{text}'") from None
    return BitConfig(_widths("w", values.get("w", "8"), n_layers),
                     _widths("a", values.get("a", "8"), n_layers), in_bits, out_bits)
