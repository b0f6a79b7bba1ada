"""Small helpers shared by tests."""

from __future__ import annotations

import numpy as np

from qhil.common.actor import FloatActor


def tiny_float_actor(sizes: tuple[int, ...] = (5, 16, 12, 2), seed: int = 0) -> FloatActor:
    rng = np.random.default_rng(seed)
    ws = tuple(rng.normal(0, 1 / np.sqrt(a), size=(b, a)).astype(np.float32)
               for a, b in zip(sizes, sizes[1:], strict=False))
    bs = tuple(rng.normal(0, 0.1, size=b).astype(np.float32) for b in sizes[1:])
    n, k = sizes[0], sizes[-1]
    return FloatActor(ws, bs, np.zeros(n), np.ones(n), np.inf, -np.ones(k), np.ones(k), "tanh")
