"""Devices by URL (`--port rfc2217://...` for any target): the native firmware's pty
exported by the real ser2net, in a network namespace with only loopback."""

from __future__ import annotations

import os
import shutil

import pytest

from qhil.targets.firmware import build_firmware
from tests_support import run_scenario

needs = pytest.mark.skipif(
    shutil.which("ser2net") is None or shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs ser2net (make setup installs it) and root for a loopback-only namespace")


@needs
def test_bench_through_ser2net_equals_the_local_bench() -> None:
    build_firmware("native")
    seen = run_scenario("ser2net_device.py", timeout=300)
    assert seen["remote"] == seen["local"]  # the same returns and bit-exact counts
    assert seen["remote"]["qat_w3"]["checked"] == 400 and seen["remote"]["qat_w3"]["mismatches"] == 0
    assert seen["url"].startswith("rfc2217://127.0.0.1:") and seen["board"] == "native"
    assert seen["mismatch_exit"] == 2
    assert "says it is 'native'" in seen["mismatch_error"] and "--allow-mismatch" in seen["mismatch_error"]
    assert seen["allowed_exit"] == 0
