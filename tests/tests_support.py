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



def fuzz_tools() -> Any:
    """tools/fuzz.py as a module (its targets, sources and build folder)."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("qhil_tools_fuzz", root / "tools" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def loader_verdicts(blobs: list[bytes], work: Path) -> list[tuple[int, ...]]:
    """The firmware loader's verdict on each blob (firmware/test/fuzz/loader_verdict.c with
    the sources tools/fuzz.py compiles the loader fuzzer from, built by gcc into ``work``):
    ``(0, kind, layers, obs_dim, act_dim)``, or ``(model error,)``."""
    fuzz = fuzz_tools()
    firmware = Path(__file__).resolve().parent.parent / "firmware"
    exe = work / "loader_verdict"
    if not exe.is_file():
        subprocess.run(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror",
                        f"-I{firmware / 'include'}", "-DQHIL_MAX_WIDTH=256", "-o", str(exe),
                        str(firmware / "test/fuzz/loader_verdict.c"),
                        *(str(firmware / s) for s in fuzz.TARGETS["model_load"]), "-lm"],
                       check=True)
    paths = []
    for i, data in enumerate(blobs):
        paths.append(work / f"b{i}")
        paths[-1].write_bytes(data)
    text = subprocess.run([str(exe), *map(str, paths)], capture_output=True, text=True,
                          check=True).stdout
    return [tuple(int(v) for v in line.split()) for line in text.splitlines()]
