"""Small helpers shared by tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from qhil.common.actor import FloatActor


def tiny_float_actor(sizes: tuple[int, ...] = (5, 16, 12, 2), seed: int = 0) -> FloatActor:
    rng = np.random.default_rng(seed)
    ws = tuple(rng.normal(0, 1 / np.sqrt(a), size=(b, a)).astype(np.float32)
               for a, b in zip(sizes, sizes[1:], strict=False))
    bs = tuple(rng.normal(0, 0.1, size=b).astype(np.float32) for b in sizes[1:])
    n, k = sizes[0], sizes[-1]
    return FloatActor(ws, bs, np.zeros(n), np.ones(n), np.inf, -np.ones(k), np.ones(k), "tanh")


ROOT = Path(__file__).resolve().parents[1]
# lo up, plus a veth pair inside the namespace: ser2net's address lookup wants a configured
# non-loopback interface (AI_ADDRCONFIG), and a veth pair with both ends here reaches nothing.
NAMESPACE_SETUP = ("ip link set lo up && ip link add qhil0 type veth peer name qhil1 && "
                   "ip addr add 10.254.254.1/32 dev qhil0 && ip link set qhil0 up && "
                   "ip link set qhil1 up && exec \"$@\"")


def run_scenario(name: str, timeout: float) -> dict[str, Any]:
    """Run ``tests/scenarios/<name>`` in a network namespace with only loopback; the JSON
    line it prints last is what it saw."""
    proc = subprocess.run(["unshare", "-n", "sh", "-c", NAMESPACE_SETUP, "sh", sys.executable,
                           str(ROOT / "tests" / "scenarios" / name)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
