"""The instructions one inference executes, traced by QEMU, and their estimated cycles.

QEMU runs the target's firmware with translation-block chaining off (``-d nochain``) and
an HMP monitor on a loopback port. After the model is loaded, execution logging is turned
on (``log exec,nochain``) for exactly one INFER request and off again. Every executed
translation block is then one ``Trace`` line with its start address; the instructions it
ran are read from the firmware's disassembly (``arm-none-eabi-objdump -d``): from the
block's start up to the first instruction that can leave straight-line code. When the
next block starts inside that stretch, the block either looped back to it (its closing
branch targets it) or QEMU cut it short there (icount budget, an I/O access). A branch
is taken when the next block does not start right after it.

The inference is the span from the first block of ``run_policy`` (the firmware's measured
call, docs/protocol.md) to its return into the caller; blocks of interrupt handlers
inside it are dropped (their cost on silicon differs from QEMU's timers). The executed
count matches the device's own instruction count up to the dropped interrupt handlers
and the counter reads around the call (tests/test_cycles.py bounds the difference).
"""

from __future__ import annotations

import bisect
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qhil.common.errors import ConfigError, QhilError
from qhil.link.framing import LoadPrep
from qhil.targets.cycles import (
    Core,
    CycleEstimate,
    Executed,
    Instruction,
    estimate_cycles,
    is_control_transfer,
    parse_objdump,
)
from qhil.targets.drivers import Connection, QemuTarget
from qhil.targets.info import TargetInfo, WeightsIn
from qhil.targets.power import BoardProfile
from qhil.targets.targets import target_info

__all__ = ["trace_inference", "InferenceTrace", "executed_stream", "check_traceable"]

_TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
MEASURED_CALL = "run_policy"


@dataclass
class InferenceTrace:
    """One traced inference: its stream, the device's own count and the estimate."""

    target: str
    core: Core
    stream: list[Executed]
    device_instructions: float
    estimate: CycleEstimate
    hello_clock_hz: int = 0
    """the core clock the device reports in HELLO (0: unknown)"""

    def as_dict(self) -> dict[str, object]:
        return {"target": self.target, "device_instructions": self.device_instructions,
                **self.estimate.as_dict()}

    def summary(self, profile: BoardProfile | None) -> dict[str, Any]:
        """:meth:`as_dict` with the time at the board profile's clock (else HELLO's) and,
        with the profile's flash wait states, the cycles and time they add."""
        clock = profile.clock_hz if profile is not None else self.hello_clock_hz
        out: dict[str, Any] = {**self.as_dict(), "clock_hz": clock,
                               "clock_from": profile.name if profile is not None else "HELLO"}
        if clock:
            out["us"] = self.estimate.cycles / clock * 1e6
            if profile is not None and profile.flash_wait_states:
                with_flash = self.estimate.with_flash_wait_states(profile.flash_wait_states)
                out.update(flash_wait_states=profile.flash_wait_states,
                           cycles_with_flash=with_flash, us_with_flash=with_flash / clock * 1e6)
        return out


@lru_cache(maxsize=8)
def _program(elf: Path, mtime: float, objdump_args: tuple[str, ...] = ()
             ) -> tuple[dict[int, Instruction], dict[str, tuple[int, int]]]:
    objdump = shutil.which("arm-none-eabi-objdump")
    nm = shutil.which("arm-none-eabi-nm")
    if objdump is None or nm is None:
        raise QhilError("arm-none-eabi-objdump/nm are not installed (make setup installs them)")
    text = subprocess.run([objdump, "-d", *objdump_args, str(elf)], capture_output=True, text=True,
                          check=True).stdout
    symbols: dict[str, tuple[int, int]] = {}
    listing = subprocess.run([nm, "-S", "--defined-only", str(elf)], capture_output=True,
                             text=True, check=True).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2].lower() == "t":
            symbols[parts[3]] = (int(parts[0], 16) & ~1, int(parts[1], 16))
    return parse_objdump(text), symbols


def _function_of(symbols: dict[str, tuple[int, int]], pc: int) -> str:
    """The function holding ``pc`` ("?" for none): a bisection over the sorted starts."""
    starts = _sorted_starts(tuple(symbols.items()))
    i = bisect.bisect_right(starts, (pc, "\uffff")) - 1
    if i >= 0:  # functions do not overlap: only the nearest start can hold pc
        start, name = starts[i]
        if pc < start + symbols[name][1]:
            return name
    return "?"


@lru_cache(maxsize=8)
def _sorted_starts(items: tuple[tuple[str, tuple[int, int]], ...]) -> list[tuple[int, str]]:
    return sorted((start, name) for name, (start, _) in items)


def _direct_target(ins: Instruction) -> int | None:
    """The address a direct branch goes to (objdump prints it last, in hex)."""
    last = ins.operands.replace(",", " ").split()[-1:] if ins.operands else []
    try:
        return int(last[0], 16) if last else None
    except ValueError:
        return None


def _straight_line(pc: int, program: dict[int, Instruction]) -> list[Instruction]:
    """From ``pc`` to the first instruction that can leave straight-line code."""
    out = []
    addr = pc
    while True:
        ins = program.get(addr)
        if ins is None:
            raise QhilError(f"traced address 0x{addr:x} is not in the disassembly")
        out.append(ins)
        if is_control_transfer(ins):
            return out
        addr += ins.size


def executed_stream(pcs: list[int], program: dict[int, Instruction]) -> list[Executed]:
    """The instructions a sequence of translation-block starts ran (module docstring).

    A block runs to its first control transfer. When the next block starts inside that
    stretch, either the block looped back there (its last branch goes to the next start:
    the whole stretch ran) or QEMU cut the block short at the next start (icount, I/O).
    """
    stream: list[Executed] = []
    for i, pc in enumerate(pcs):
        nxt = pcs[i + 1] if i + 1 < len(pcs) else None
        block = _straight_line(pc, program)
        last = block[-1]
        inside = [j for j, ins in enumerate(block[1:], 1) if ins.addr == nxt]
        if inside and _direct_target(last) != nxt:
            stream.extend(Executed(ins) for ins in block[: inside[0]])
            continue
        stream.extend(Executed(ins) for ins in block[:-1])
        stream.append(Executed(last, taken=nxt is not None and nxt != last.addr + last.size))
    return stream


def _span(pcs: list[int], symbols: dict[str, tuple[int, int]]) -> list[int]:
    """The blocks of the measured call, without interrupt handlers."""
    start, size = symbols[MEASURED_CALL]
    first = next((i for i, pc in enumerate(pcs) if pc == start), None)
    if first is None:
        raise QhilError(f"the trace never entered {MEASURED_CALL}")
    caller = _function_of(symbols, pcs[first - 1]) if first else "?"
    kept: list[int] = []
    for pc in pcs[first:]:
        name = _function_of(symbols, pc)
        if name == caller:
            return kept
        if not name.endswith("_Handler") and not name.startswith("Irq"):
            kept.append(pc)
    raise QhilError(f"the trace ends inside {MEASURED_CALL}: incomplete log")


class _Monitor:
    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise QhilError("QEMU's monitor did not open its socket") from None
                time.sleep(0.05)
        self._read_until(b"(qemu)")

    def _read_until(self, marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QhilError("QEMU's monitor closed")
            data += chunk
        return data

    def command(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\n")
        self._read_until(b"(qemu)")

    def quit(self) -> None:
        self.sock.sendall(b"quit\n")
        try:
            while self.sock.recv(65536):  # QEMU closes the monitor as it exits
                pass
        except OSError:
            pass
        self.sock.close()


def check_traceable(target: str) -> TargetInfo:
    """The target's row, if cycle estimates can be made on it.

    :raises ConfigError: not a target that can be traced, or a core without a timing model
    """
    info = target_info(target)
    if not info.driver.can_trace or Core.of_cpu(info.cpu) is None:
        raise ConfigError(f"cycle estimates need a QEMU target of a modelled core "
                          f"({', '.join(c.value for c in Core)}); '{target}' is not one")
    return info


def trace_inference(target: str, blob: bytes, codes: np.ndarray, work: Path,
                    prep: LoadPrep = LoadPrep.STORED,
                    weights_in: WeightsIn = WeightsIn.RAM) -> InferenceTrace:
    """Trace one inference of ``blob`` on a QEMU ``target``, put there as every command
    puts a model (:meth:`~qhil.targets.drivers.Target.put_model`: laid out for the kernel,
    ``prep`` LOAD's flags, ``weights_in`` FLASH: built into the firmware, which is then
    the one traced), so the trace is of the firmware and kernel that ran.

    :param codes: the request: input codes (integer blob) or the normalized observation as
        float32 (float32 blob)
    :param work: a folder for QEMU's log
    :raises ConfigError: a target that is not a QEMU one, or a core without a timing model
    """
    info = check_traceable(target)
    core = Core.of_cpu(info.cpu)
    assert core is not None
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"trace-{target}.log"
    log.unlink(missing_ok=True)
    tracer = QemuTarget(info, Connection(timeout=5.0), trace_log=log)
    with tracer.start(build=True):
        tracer.put_model(blob, prep=prep, weights_in=weights_in)  # may restart QEMU
        assert tracer.monitor_port is not None
        monitor = _Monitor(tracer.monitor_port)
        hello = tracer.device.info
        assert hello is not None and tracer.firmware is not None
        elf = tracer.firmware
        monitor.command("log exec,nochain")
        device = tracer.device
        _, raw = (device.infer_f32(codes) if codes.dtype.kind == "f" else device.infer(codes))
        monitor.command("log nochain")
        device.close()
        monitor.quit()  # an orderly exit flushes the log; a kill may lose its tail
        if tracer.process is not None:
            tracer.process.wait(timeout=10)
    pcs = [int(m.group(1), 16) for line in log.read_text(errors="replace").splitlines()
           if (m := _TRACE.match(line))]
    program, symbols = _program(elf, elf.stat().st_mtime, core.objdump_args)
    stream = executed_stream(_span(pcs, symbols), program)
    return InferenceTrace(target, core, stream, hello.cost(raw), estimate_cycles(stream, core),
                          hello.clock_hz)
