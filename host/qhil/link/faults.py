"""A transport that damages the link on purpose: dropped, flipped, duplicated, delayed bytes.

Faults hit both directions at the rates given (per byte), from a seeded generator, so a
faulty run is repeatable. The bench must finish such a run with the same results as a
clean one: every damaged frame detected by its CRC or framing and the request resent.

    --link-faults flip=1e-3,drop=1e-3,dup=1e-4,delay=1e-3,delay_ms=5,seed=1
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from qhil.common.errors import ConfigError
from qhil.link.transport import Transport

__all__ = ["LinkFaults", "FaultyTransport", "parse_link_faults"]

_RATES = ("flip", "drop", "dup", "delay")


@dataclass(frozen=True)
class LinkFaults:
    """Per-byte fault rates, and how long a delayed byte is held back."""

    flip: float = 0.0
    drop: float = 0.0
    dup: float = 0.0
    delay: float = 0.0
    delay_ms: float = 5.0
    seed: int = 0

    @property
    def any(self) -> bool:
        return any(getattr(self, name) > 0 for name in _RATES)

    def describe(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in asdict(self).items())


def parse_link_faults(text: str) -> LinkFaults:
    """``flip=1e-3,drop=1e-3`` -> :class:`LinkFaults`.

    :raises ConfigError: unknown keys, non-numbers, rates outside [0, 1]
    """
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in (*_RATES, "delay_ms", "seed"):
            raise ConfigError(f"--link-faults: '{item}' is not one of "
                              f"{', '.join(f'{k}=RATE' for k in _RATES)}, delay_ms=MS, seed=N")
        try:
            values[key] = float(raw)
        except ValueError:
            raise ConfigError(f"--link-faults: '{raw}' in '{item}' is not a number") from None
        if key in _RATES and not 0.0 <= values[key] <= 1.0:
            raise ConfigError(f"--link-faults: {key}={raw} is not a rate in [0, 1]")
        if key != "seed" and values[key] < 0:
            raise ConfigError(f"--link-faults: {key} must be >= 0")
    seed = int(values.pop("seed", 0))
    return LinkFaults(seed=seed, **values)


@dataclass
class _Injected:
    flip: int = 0
    drop: int = 0
    dup: int = 0
    delay: int = 0


class FaultyTransport(Transport):
    """Wraps another transport and applies :class:`LinkFaults` to every byte either way."""

    def __init__(self, inner: Transport, faults: LinkFaults) -> None:
        self.inner = inner
        self.faults = faults
        self.injected = _Injected()
        self._rng = np.random.default_rng([faults.seed, 0x11F])
        self._held: tuple[float, bytes] | None = None  # a delayed inbound run: (due, bytes)
        self.url = getattr(inner, "url", "faulty")

    def _damage(self, data: bytes) -> tuple[bytes, int]:
        """The bytes after faults, and how many were delayed (appended after a pause)."""
        f = self.faults
        n = len(data)
        if n == 0 or not f.any:
            return data, 0
        u = self._rng.random((4, n))
        out = bytearray()
        delayed = bytearray()
        for i, byte in enumerate(data):
            if u[0, i] < f.drop:
                self.injected.drop += 1
                continue
            if u[1, i] < f.flip:
                self.injected.flip += 1
                byte ^= 1 << int(self._rng.integers(8))
            if u[3, i] < f.delay or delayed:
                # a delayed byte holds back everything after it too: a stall, not a reorder
                self.injected.delay += int(u[3, i] < f.delay)
                delayed.append(byte)
                continue
            out.append(byte)
            if u[2, i] < f.dup:
                self.injected.dup += 1
                out.append(byte)
        return bytes(out + delayed), len(delayed)

    def write(self, data: bytes) -> None:
        damaged, delayed = self._damage(data)
        if delayed:
            self.inner.write(damaged[:-delayed])
            time.sleep(self.faults.delay_ms / 1e3)
            self.inner.write(damaged[-delayed:])
        else:
            self.inner.write(damaged)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if self._held is not None:
            # Nothing more is read from the inner transport while a byte is held back, so
            # the bytes behind it keep their order (they wait in the OS buffer).
            due, held = self._held
            wait = due - time.monotonic()
            if wait > timeout:
                time.sleep(max(timeout, 0.0))
                return b""
            time.sleep(max(wait, 0.0))
            self._held = None if len(held) <= max_bytes else (due, held[max_bytes:])
            return held[:max_bytes]
        damaged, delayed = self._damage(self.inner.read(max_bytes, timeout))
        if delayed:
            self._held = (time.monotonic() + self.faults.delay_ms / 1e3, damaged[-delayed:])
            damaged = damaged[:-delayed]
        return damaged

    def close(self) -> None:
        self.inner.close()

    def counts(self) -> dict[str, int]:
        return asdict(self.injected)

