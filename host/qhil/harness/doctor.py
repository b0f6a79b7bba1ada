"""``qhil doctor``: the checks a user runs first with a new board, one line each, with a
fix when one fails. They run in order and stop at the first that leaves nothing to check
further (no port: no HELLO)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from qhil.common.errors import QhilError
from qhil.quant.blob import FORMAT_VERSION, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.random_model import random_input_codes, random_quant_model
from qhil.targets.drivers import Target
from qhil.targets.info import board_json
from qhil.targets.probes import upload_tool
from qhil.targets.targets import TargetSettings

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``ok``, what was found, and how to fix it when not ok."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.name}: {self.detail}" + (f" -> {self.fix}" if self.fix else "")


def _tools(settings: TargetSettings) -> Iterator[Check]:
    info = settings.info
    for protocol in info.upload_protocols:
        tool = upload_tool(protocol)
        missing = tool.missing()
        problem = missing or tool.check_board(board_json(info.board))
        # a problem found in the board's names says its own fix (pyocd pack install ...)
        fix = ("" if problem is None or not missing else f"install it ({tool.install})")
        yield Check(f"upload tool {protocol}", problem is None, problem or f"{tool.path()}", fix)
        if problem is None and protocol in ("openocd", "pyocd"):
            seen = tool.probe_visible(board_json(info.board))
            yield Check(f"probe ({protocol})", seen is None, seen or "a probe answers",
                        "" if seen is None else tool.NO_PROBE_FIX)


def run_checks(settings: TargetSettings,
               on_check: Callable[[Check], None] | None = None) -> list[Check]:
    """Every check for ``settings``' target, in order; ``on_check`` sees each as it ends."""
    checks: list[Check] = []

    def add(check: Check) -> bool:
        checks.append(check)
        if on_check is not None:
            on_check(check)
        return check.ok

    for check in _tools(settings):
        add(check)
    target: Target | None = None
    try:
        target = settings.open()
        target.start(not settings.no_build)
    except QhilError as exc:
        where = settings.port or settings.target
        add(Check("port and HELLO", False, f"{where}: {exc}",
                  "check the port ('qhil devices' lists them), the board's power, and that "
                  "its firmware is qhil's ('qhil flash')"))
        return checks
    try:
        _device_checks(target, settings, add)
    finally:
        target.stop()
    return checks


def _device_checks(target: Target, settings: TargetSettings,
                   add: Callable[[Check], bool]) -> None:
    hello = target.device.info
    assert hello is not None
    add(Check("port and HELLO", True, f"{target.port or settings.target}: {hello.board} "
                                      f"({hello.cpu}), kernel {hello.kernel}"))
    expected = _expected_firmware_version()
    add(Check("firmware version", hello.firmware == expected,
              f"{hello.firmware} (the host builds {expected})",
              "" if hello.firmware == expected else f"qhil flash --target {settings.target}"))
    add(Check("model format", hello.model_format == FORMAT_VERSION,
              f"the firmware reads version {hello.model_format}, the host writes up to "
              f"{FORMAT_VERSION}", "" if hello.model_format == FORMAT_VERSION else
              f"qhil flash --target {settings.target} (older firmware refuses newer blobs)"))
    profile = target.info.profile
    unit = "instructions" if target.emulated else "cycles" if hello.clock_hz else "ns"
    clock_ok = hello.cost_kind == unit and (
        profile is None or target.emulated or hello.clock_hz in (0, profile.clock_hz))
    said = (f"counts {hello.cost_kind}, clock {hello.clock_hz / 1e6:g} MHz" if hello.clock_hz
            else f"counts {hello.cost_kind}, no clock")
    add(Check("clock and counter", clock_ok,
              said + (f" (profile {profile.name}: {profile.clock_hz / 1e6:g} MHz)" if profile
                      else ""),
              "" if clock_ok else "the board runs at another clock than its profile: give "
              "--board-profile with its clock, or fix the firmware's clock setup"))
    model = random_quant_model(np.random.default_rng(0), [4, 16, 2], parse_bits("int8", 2))
    x = random_input_codes(np.random.default_rng(1), model, 8)
    try:
        target.put_model(write_blob(model))
        got = np.stack([target.device.infer(row)[0] for row in x])
    except QhilError as exc:
        add(Check("test inference", False, str(exc), "qhil flash, then qhil doctor again"))
        return
    want = GoldenExecutor(model).action_codes(x)
    bad = int(np.count_nonzero(np.any(got != want, axis=1)))
    add(Check("test inference", bad == 0, f"{len(x) - bad} of {len(x)} answers bit-exact",
              "" if bad == 0 else "the firmware computes something else: rebuild and flash it "
              "from this checkout; report it if it persists"))


def _expected_firmware_version() -> str:
    from qhil.targets.firmware import FIRMWARE_DIR

    text = (FIRMWARE_DIR / "platformio.ini").read_text()
    marker = 'QHIL_FIRMWARE_VERSION=\\"'
    start = text.index(marker) + len(marker)
    return text[start:text.index('\\"', start)]

