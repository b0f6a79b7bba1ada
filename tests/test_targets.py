"""Targets as drivers (issue 29): a new kind defined here alone runs a full bench; flash
goes through the real `pio run -t upload` with the real tools (openocd's configuration
check, pyOCD's targets, a GDB-server probe writing QEMU's STM32F405 end to end); serial
links behave as boards' do (baud pacing, DTR reset with boot noise, re-enumeration);
`qhil doctor`; `--weights-in flash` measured against flash; traces of what ran."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qhil.api import bench
from qhil.cli.main import main
from qhil.common.errors import ConfigError
from qhil.link.transport import Transport
from qhil.targets import (
    TARGETS,
    Connection,
    EmulatorLink,
    Target,
    TargetInfo,
    TargetSettings,
    register_target,
)
from qhil.targets.drivers import BoardTarget, QemuTarget, free_port, qemu_command
from qhil.targets.firmware import build_firmware, upload_command
from qhil.targets.probes import OpenOCD, PyOCD

ROOT = Path(__file__).resolve().parents[1]
PENDULUM = ROOT / "models" / "Pendulum-v1"
sys.path.insert(0, str(Path(__file__).parent / "scenarios"))


# ---------------------------------------------------------------------------------------
# A new kind of target, defined in this file alone
# ---------------------------------------------------------------------------------------
class PipeTransport(Transport):
    """Its own transport: raw reads and writes on the pty's file descriptor."""

    def __init__(self, path: str) -> None:
        import tty

        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.bytes_moved = 0

    def write(self, data: bytes) -> None:
        while data:
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                time.sleep(0.0005)
                continue
            data = data[n:]
            self.bytes_moved += n

    def read(self, max_bytes: int, timeout: float) -> bytes:
        import select

        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0.0))
        if not ready:
            return b""
        data = os.read(self.fd, max_bytes)
        self.bytes_moved += len(data)
        return data

    def close(self) -> None:
        os.close(self.fd)


class PipeNativeTarget(Target):
    """The native firmware as a process, reached through :class:`PipeTransport`."""

    kind = "pipe"

    def _launch(self) -> Transport:
        assert self.firmware is not None
        self.process = subprocess.Popen([str(self.firmware)], stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        path = self.process.stdout.readline().decode().split()[1]
        return PipeTransport(path)


def test_a_kind_of_target_defined_in_a_test_runs_a_full_bench(tmp_path: Path) -> None:
    register_target(TargetInfo("pipe-native", "native", PipeNativeTarget, board="native",
                               description="the native firmware through a pipe of its own"))
    try:
        report = bench(PENDULUM, variants=["float", "int8"], episodes=2, target="pipe-native",
                       out=tmp_path / "run")
    finally:
        TARGETS.pop("pipe-native")
    assert report.mismatches == 0
    assert report.variant("int8")["bit_exact"]["checked_steps"] == 400
    assert report.data["target"]["kind"] == "pipe" and report.data["target"]["board"] == "native"


def test_no_kind_is_switched_on_outside_the_drivers() -> None:
    """What differs between kinds is a driver's method or capability flag: nothing asks
    which kind a target is, nor tests a driver's class, outside targets/drivers.py."""
    pattern = re.compile(r"\b(info|target|driver|running|t)\.kind\s*(==|!=|\bis\b|\bin\b)|"
                         r"TargetKind|isinstance\([^)]*\b\w*Target\)")
    hits = []
    for path in sorted((ROOT / "host" / "qhil").rglob("*.py")):
        if path.name == "drivers.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_docs_say_which_files_a_new_kind_board_and_emulator_touch() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("## Extending", 1)[1]
    for needle in ("host/qhil/targets/drivers.py", "register_target",
                   "host/qhil/targets/targets.py", "firmware/platformio.ini",
                   "firmware/platform/qhilmcu/boards/"):
        assert needle in section, needle
    for path in re.findall(r"`((?:host|firmware)/[\w/.-]+)`", section):
        assert (ROOT / path).exists(), path


# ---------------------------------------------------------------------------------------
# Flash through the real tools
# ---------------------------------------------------------------------------------------
BOARDS = [t for t in TARGETS.values() if t.upload_protocols and t.driver is BoardTarget]


@pytest.mark.parametrize("info", BOARDS, ids=[t.name for t in BOARDS])
def test_every_boards_openocd_upload_command_passes_openocds_configuration_check(info) -> None:
    """The exact command `pio run -t upload` runs, executed by the real openocd with
    `-c shutdown` after its -f files: every interface and target name is parsed."""
    command = upload_command(info.pio_env, {"UPLOAD_PROTOCOL": "openocd"})
    assert command.startswith("openocd -f interface/") and "program" in command
    assert OpenOCD().check_command(command) is None
    wrong = command.replace("target/stm32f4x.cfg", "target/stm32f4xx-nonexistent.cfg")
    assert "openocd refused the configuration" in (OpenOCD().check_command(wrong) or "")


@pytest.mark.parametrize("info", BOARDS, ids=[t.name for t in BOARDS])
def test_every_boards_pyocd_part_is_built_in_or_listed_as_a_pack_part(info) -> None:
    from qhil.targets.info import board_json

    part = board_json(info.board)["debug"]["pyocd_target"]
    tool = PyOCD()
    assert tool.missing() is None, "make setup installs pyocd (the lab extra)"
    assert part in tool.targets() or part in tool.pack_parts()


def test_a_missing_pyocd_pack_is_one_line_before_anything_is_built(capsys) -> None:
    code = main(["flash", "--target", "nucleo-f446re", "--upload-protocol", "pyocd"])
    err = capsys.readouterr()
    assert code == 2 and "pyocd pack install stm32f446re" in err.err
    assert "building" not in err.out + err.err and err.err.strip().count("\n") == 0


def test_a_gdb_server_probe_flashes_an_stm32f405_and_it_benches_bit_exact(tmp_path: Path) -> None:
    """QEMU's STM32F405 (the Crazyflie's MCU) halted with its GDB server and no image; the
    qemu-stm32f4 firmware goes in through the real `pio run -t upload` (gdb-multiarch and
    probes/gdb-load.gdb: load, start as a reset does, detach), boots, answers HELLO and
    benches bit-exact over its USART."""
    info = TARGETS["qemu-stm32f4"]
    build_firmware(info.pio_env)
    gdb, serial = free_port(), free_port()
    qemu = subprocess.Popen(qemu_command(info, None, serial, gdb_port=gdb),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)
        out = subprocess.run([sys.executable, "-m", "qhil.cli.main", "flash", "--target",
                              "qemu-stm32f4", "--upload-protocol", "gdb-server", "--upload-port",
                              f"127.0.0.1:{gdb}"], capture_output=True, text=True, timeout=300,
                             cwd=ROOT)
        assert out.returncode == 0, out.stderr
        report = bench(PENDULUM, variants=["int8"], episodes=1,
                       target=TargetSettings("qemu-stm32f4", port=f"socket://127.0.0.1:{serial}"),
                       out=tmp_path / "run")
        assert report.mismatches == 0 and report.data["target"]["board"] == "netduinoplus2"
        assert report.variant("int8")["bit_exact"]["checked_steps"] == 200
    finally:
        qemu.kill()
        qemu.wait()


def test_a_black_magic_upload_runs_the_probes_script_through_real_gdb() -> None:
    """The blackmagic protocol runs the same load script behind the probe's scan-and-attach
    preamble, with the real gdb-multiarch. With no Black Magic probe here, QEMU's GDB server
    stands in and does not know `monitor swdp_scan`: the upload gets as far as the probe's
    own commands and fails in one line, exit 2 (a real probe takes it from there)."""
    info = TARGETS["qemu-stm32f4"]
    gdb, serial = free_port(), free_port()
    qemu = subprocess.Popen(qemu_command(info, None, serial, gdb_port=gdb),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)
        out = subprocess.run([sys.executable, "-m", "qhil.cli.main", "flash", "--target",
                              "nucleo-f446re", "--upload-protocol", "blackmagic",
                              "--upload-port", f"127.0.0.1:{gdb}"], capture_output=True,
                             text=True, timeout=300, cwd=ROOT)
    finally:
        qemu.kill()
        qemu.wait()
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("qhil: error")]
    assert out.returncode == 2 and len(errors) == 1
    assert "through blackmagic failed (the build succeeded): gdb-multiarch:" in errors[0]


def test_a_gdb_server_upload_without_a_server_says_so_in_one_line(capsys) -> None:
    port = free_port()  # nothing listens there
    code = main(["flash", "--target", "qemu-stm32f4", "--upload-protocol", "gdb-server",
                 "--upload-port", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 2 and "no GDB server answers" in err and err.strip().count("\n") == 0


# ---------------------------------------------------------------------------------------
# Serial the way boards have it
# ---------------------------------------------------------------------------------------
def test_a_paced_link_takes_a_uarts_time_both_ways() -> None:
    """At 9600 baud each byte takes 10/9600 s: a HELLO round trip (request and answer
    frames) cannot be faster than their bytes on the wire; unpaced it takes well under."""
    from qhil.link.framing import MsgType, Packet, encode_frame
    from qhil.targets import start_target

    with start_target("native", link_baud=9600) as paced:
        t0 = time.monotonic()
        answer = paced.device.request(MsgType.HELLO)
        took = time.monotonic() - t0
    wire = len(encode_frame(Packet(MsgType.HELLO, 1, b""))) + len(encode_frame(answer))
    assert took >= 0.95 * wire * 10 / 9600, (took, wire)
    with start_target("native") as fast:
        t0 = time.monotonic()
        fast.device.request(MsgType.HELLO)
        assert time.monotonic() - t0 < wire * 10 / 9600 / 2


def test_link_baud_is_an_option_of_every_device_command(capsys, tmp_path: Path) -> None:
    assert main(["-q", "bench", "--model", str(PENDULUM), "--target", "native", "--variants",
                 "int8", "--episodes", "1", "--link-baud", "115200", "--calib-episodes", "2",
                 "-o", str(tmp_path / "run")]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    # an INFER and its answer are ~30 bytes: > 2.6 ms at 115200 baud, ~0.05 ms unpaced
    assert report["variants"][0]["latency_ms"]["p50"] > 2.0


@pytest.fixture
def usb_board(tmp_path: Path):
    from usb_board import FakeUsbBoard

    elf = build_firmware("native")
    register_target(TargetInfo("usb-native", "native", BoardTarget, board="native",
                               description="the native firmware as a USB board"))
    try:
        with FakeUsbBoard(elf, tmp_path / "ttyACM0") as board:
            yield board
    finally:
        TARGETS.pop("usb-native")


def test_a_board_that_resets_on_open_and_prints_boot_noise_is_benched(usb_board,
                                                                      tmp_path: Path) -> None:
    """Opening the port resets the board; the HELLO sent while it boots is lost and its
    boot noise (text, and zero bytes that cut it into damaged frames) is skipped: the first
    HELLO waits through both (the noise counted as damaged frames, never answers)."""
    settings = TargetSettings("usb-native", port=str(usb_board.link))
    with settings.start() as target:
        counters = target.device.counters
        assert usb_board.resets == 1 and target.device.info is not None
        assert counters.corrupt_frames + counters.timeouts >= 1, counters  # noise, lost HELLO
    report = bench(PENDULUM, variants=["int8"], episodes=2, target=settings,
                   out=tmp_path / "run")
    assert report.mismatches == 0 and usb_board.resets == 2  # the bench opened it again


def test_a_usb_port_that_disappears_on_reset_is_waited_for(usb_board, tmp_path: Path) -> None:
    """Mid-run the board resets and its USB CDC port re-enumerates (gone for 2 s, back under
    the same name): the run waits for it, reconnects, reloads, and records the incident."""
    from qhil.harness.run import BenchProgress

    unplugged: list[bool] = []

    def after_episode(*_: object) -> None:
        if not unplugged:
            unplugged.append(True)
            usb_board.unplug()

    report = bench(PENDULUM, variants=["int8"], episodes=3,
                   target=TargetSettings("usb-native", port=str(usb_board.link)),
                   out=tmp_path / "run", progress=BenchProgress(episode=after_episode))
    assert report.mismatches == 0 and report.complete
    incidents = report.data["incidents"]
    assert len(incidents) == 1 and incidents[0]["action"] == "restarted the target"
    assert incidents[0]["seconds"] >= 1.5


# ---------------------------------------------------------------------------------------
# qhil doctor
# ---------------------------------------------------------------------------------------
def test_doctor_passes_on_an_emulator_and_names_each_failure_on_a_board(capsys) -> None:
    assert main(["doctor", "--target", "qemu-m4"]) == 0
    out = capsys.readouterr().out
    for check in ("port and HELLO", "firmware version", "model format", "clock and counter",
                  "test inference: 8 of 8 answers bit-exact"):
        assert f"ok   {check}" in out, out
    assert main(["doctor", "--target", "nucleo-f446re", "--port", "/dev/qhil-no-such-port"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("FAIL probe (openocd): no ST-LINK found") and "->" in ln
               for ln in lines), lines
    assert any(ln.startswith("FAIL upload tool pyocd") and "pyocd pack install" in ln
               for ln in lines), lines
    assert any(ln.startswith("FAIL port and HELLO") and "no serial port" in ln for ln in lines)


# ---------------------------------------------------------------------------------------
# --weights-in flash fits by flash; traces of what ran
# ---------------------------------------------------------------------------------------
def test_a_model_bigger_than_ram_runs_from_flash_and_one_too_big_names_its_room(
        tmp_path: Path) -> None:
    """qemu-m0's RAM arena is 9 KB; a 3-hidden-layer model of ~12.9 KB is refused there with
    the arena's figures and runs with --weights-in flash, measured against the flash the
    firmware leaves."""
    from qhil.api import save_model
    from qhil.common.actor import FloatActor
    from qhil.link.device import HelloInfo
    from qhil.quant.blob import write_blob
    from qhil.targets.fit import does_not_fit
    from qhil.targets.info import ModelRoom

    rng = np.random.default_rng(0)
    sizes = [3, 64, 64, 64, 1]
    actor = FloatActor(tuple(rng.normal(0, 0.2, (b, a)).astype(np.float32)
                             for a, b in zip(sizes, sizes[1:], strict=False)),
                       tuple(np.zeros(b, np.float32) for b in sizes[1:]), np.zeros(3),
                       np.ones(3), np.inf, -2 * np.ones(1), 2 * np.ones(1), "tanh")
    model = save_model(tmp_path / "wide", actor, "Pendulum-v1")
    with pytest.raises(Exception, match=r"needs 1[0-9],\d{3} bytes of model arena; "
                                        r"microbit_qemu \(cortex-m0\) has 9,216 \(targets that "
                                        r"would take it: .*qemu-m4"):
        bench(model, variants=["int8"], episodes=1, target="qemu-m0", out=tmp_path / "ram")
    report = bench(model, variants=["int8"], episodes=1,
                   target=TargetSettings("qemu-m0", weights_in="flash"), out=tmp_path / "flash")
    assert report.mismatches == 0 and report.variant("int8")["sizes"]["blob_bytes"] > 9216
    # a room too small for it: the refusal names flash, the bytes needed and available
    hello = HelloInfo(1, "instructions", 5, 16, 0, 9216, 256, (8,), "optimized C", False,
                      "0.1.0", "microbit_qemu", "cortex-m0", 64, 8, 3)
    blob = write_blob(actor, env_id="Pendulum-v1")
    said = does_not_fit(blob, hello, ModelRoom(4000, "flash"))
    assert said is not None and "bytes of flash; microbit_qemu (cortex-m0)'s firmware leaves 4,000" in said


@pytest.mark.parametrize("place", ["ram", "flash"])
def test_a_model_the_board_cannot_take_is_refused_before_it_is_sent_or_built(
        place: str, tmp_path: Path) -> None:
    """Every load checks the board's limits first (qhil.targets.fit): one line naming the
    width the board accepts, before a LOAD is sent or a flash image is built."""
    from qhil.api import infer
    from qhil.quant.blob import write_blob
    from qhil.quant.config import parse_bits
    from qhil.quant.random_model import random_quant_model

    model = random_quant_model(np.random.default_rng(3), [3, 128, 1], parse_bits("int8", 2))
    blob = tmp_path / "wide.qhil"
    blob.write_bytes(write_blob(model))
    with pytest.raises(ConfigError, match=r"^qemu-m0 cannot take the model: the model has a "
                                          r"layer 128 wide; microbit_qemu \(cortex-m0\) "
                                          r"accepts at most 64$"):
        infer(blob, np.zeros(3), TargetSettings("qemu-m0", weights_in=place))


@pytest.mark.parametrize("extra", [["--widen-weights"], ["--weights-in", "flash"]],
                         ids=["widened", "from-flash"])
def test_cycles_trace_the_firmware_and_kernel_that_ran(extra: list[str], tmp_path: Path) -> None:
    """The trace loads its model the way the bench did: the traced request's own device
    count equals the bench's device cost (a trace of the RAM firmware, or without the widen
    flag, counts differently: 1.78 against 1.32 instructions per MAC on the M4)."""
    out = tmp_path / "run"
    assert main(["-q", "bench", "--model", str(PENDULUM), "--target", "qemu-m4", "--variants",
                 "int8", "--episodes", "1", "--cycles", "--calib-episodes", "2", *extra,
                 "-o", str(out)]) == 0
    cost = json.loads((out / "report.json").read_text())["variants"][0]["device_cost"]
    traced = cost["estimated"]["device_instructions"]
    assert abs(traced - cost["median"]) <= 0.002 * cost["median"], (traced, cost["median"])


def test_a_link_given_with_a_port_is_refused() -> None:
    with pytest.raises(ConfigError, match="--link picks an emulator's link"):
        TargetSettings("qemu-m4", port="socket://127.0.0.1:1", link="uart")
    with pytest.raises(ConfigError, match="qemu-m0 has no ethernet link"):
        QemuTarget(TARGETS["qemu-m0"], Connection(link=EmulatorLink.ETHERNET))



def test_builds_in_one_checkout_wait_for_each_other() -> None:
    """SCons keeps one signature database per project: two `pio run` at once (two sweeps,
    two benches) corrupted it. A build waits while another holds the checkout's lock."""
    import threading

    from qhil.targets import firmware

    finished = threading.Event()
    with firmware._build_lock():
        worker = threading.Thread(target=lambda: (firmware.build_firmware("native"),
                                                  finished.set()))
        worker.start()
        assert not finished.wait(1.0)
    worker.join(timeout=120)
    assert finished.is_set()
