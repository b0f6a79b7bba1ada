"""Devices by URL (`--port rfc2217://...` for any target): the native firmware's pty
exported by the real ser2net, in a network namespace with only loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qhil.targets.firmware import build_firmware

ROOT = Path(__file__).resolve().parents[1]
# lo up, plus a veth pair inside the namespace: ser2net's address lookup wants a configured
# non-loopback interface (AI_ADDRCONFIG), and a veth pair with both ends here reaches nothing.
NAMESPACE_SETUP = ("ip link set lo up && ip link add qhil0 type veth peer name qhil1 && "
                   "ip addr add 10.254.254.1/32 dev qhil0 && ip link set qhil0 up && "
                   "ip link set qhil1 up && exec \"$@\"")

needs = pytest.mark.skipif(
    shutil.which("ser2net") is None or shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs ser2net (make setup installs it) and root for a loopback-only namespace")


@needs
def test_bench_through_ser2net_equals_the_local_bench() -> None:
    build_firmware("native")
    proc = subprocess.run(["unshare", "-n", "sh", "-c", NAMESPACE_SETUP, "sh", sys.executable,
                           str(ROOT / "tests" / "scenarios" / "ser2net_device.py")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["remote"] == seen["local"]  # the same returns and bit-exact counts
    assert seen["remote"]["qat_w3"]["checked"] == 400 and seen["remote"]["qat_w3"]["mismatches"] == 0
    assert seen["url"].startswith("rfc2217://127.0.0.1:") and seen["board"] == "native"
    assert seen["mismatch_exit"] == 2
    assert "says it is 'native'" in seen["mismatch_error"] and "--allow-mismatch" in seen["mismatch_error"]
    assert seen["allowed_exit"] == 0
