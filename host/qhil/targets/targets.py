"""Targets: what runs the firmware, and how to start it and connect to it.

``native`` is the firmware as a host process behind a pty; ``qemu-*`` start QEMU with
``-icount shift=7`` (deterministic instruction counts) and the UART on a loopback TCP
socket with ``nodelay=on`` (without it Nagle adds ~40 ms per round trip); ``renode-*``
start Renode with ``firmware/renode/*.resc`` when ``renode`` is on PATH; boards are
reached through a serial port given by the user.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from qhil.common.errors import ConfigError, QhilError
from qhil.common.settings import positive_float, setting
from qhil.link.device import Device
from qhil.link.ethernet import EthernetTransport
from qhil.link.faults import FaultyTransport, LinkFaults
from qhil.link.transport import SerialTransport, Transport
from qhil.targets.firmware import (
    FIRMWARE_DIR,
    build_firmware,
    build_with_model,
    built_firmware,
    builtin_lock,
)
from qhil.targets.labgrid_place import LabgridPlace, place_name
from qhil.targets.power import BOARD_PROFILES, BoardProfile

__all__ = ["TargetInfo", "TargetKind", "TARGETS", "RunningTarget", "start_target", "target_info",
           "TargetSettings", "EmulatorLink", "WeightsIn"]

LOG = logging.getLogger(__name__)


class TargetKind(Enum):
    """How a target is started; the value is what reports and ``qhil devices`` print."""

    NATIVE = "native"
    QEMU = "qemu"
    RENODE = "renode"
    BOARD = "board"
    LABGRID = "labgrid"


class EmulatorLink(Enum):
    """How the host reaches an emulated board: its UART (what silicon has; each request
    byte is one emulated interrupt, ~30-75 us) or its modelled Ethernet controller, a
    whole request per frame (docs/protocol.md#ethernet-link)."""

    UART = "uart"
    ETHERNET = "ethernet"

    @classmethod
    def parse(cls, text: str) -> EmulatorLink:
        try:
            return cls(text)
        except ValueError:
            raise ConfigError(f"unknown link '{text}' (choose from "
                              f"{', '.join(m.value for m in cls)})") from None


class WeightsIn(Enum):
    """Where a bench's models live on the device: uploaded into the RAM arena (LOAD), or
    compiled into the firmware's flash image (``qhil export-c``), the way products ship:
    each model is built into the target's ``-builtin`` firmware, which is started with it
    and answers from flash without an upload."""

    RAM = "ram"
    FLASH = "flash"

    @classmethod
    def parse(cls, text: str) -> WeightsIn:
        try:
            return cls(text)
        except ValueError:
            raise ConfigError(f"--weights-in '{text}': choose ram or flash") from None


@dataclass(frozen=True)
class TargetInfo:
    """One row of the target table.

    :param pio_env: PlatformIO environment that builds its firmware
    :param kind: how it is started
    :param machine: QEMU machine (``-M``) or Renode script name
    :param baud: serial baud rate for boards
    :param board: what its firmware says in HELLO (the PlatformIO board id), so that a
        device reached by URL can be checked to be this target
    :param power_profile: the :data:`~qhil.targets.power.BOARD_PROFILES` entry its device
        energy is estimated with ("": none; the MPS2 FPGA images and QEMU have no power
        figure of their own, they borrow a Cortex-M4 part's and reports say so)
    :param qemu: the QEMU system emulator of a QEMU target, and the arguments its machine
        needs beyond the common ones
    :param links: the emulated links its firmware answers on, the default first
    :param builtin: the target whose firmware has a model compiled into flash
        (``--weights-in flash``), if there is one
    """

    name: str
    pio_env: str
    kind: TargetKind
    machine: str = ""
    cpu: str = ""
    baud: int = 115200
    description: str = ""
    board: str = ""
    power_profile: str = ""
    qemu: tuple[str, ...] = ("qemu-system-arm",)
    links: tuple[EmulatorLink, ...] = (EmulatorLink.UART,)
    builtin: str = ""

    @property
    def profile(self) -> BoardProfile | None:
        """The board power profile of its energy estimate, if it has one."""
        return BOARD_PROFILES[self.power_profile] if self.power_profile else None


F411 = "stm32f411-100mhz"
# QEMU models the MPS2 images' LAN9118 (AN385, AN386, AN500; not the AN505's)
LAN9118 = (EmulatorLink.ETHERNET, EmulatorLink.UART)
# No profile for the STM32F446 (Nucleo-F446RE), the nRF51 (micro:bit, qemu-m0) or the M33
# image: give one with --board-profile; those reports carry the op-level estimate only.
TARGETS: dict[str, TargetInfo] = {t.name: t for t in [
    TargetInfo("native", "native", TargetKind.NATIVE, description="host process behind a pty",
               board="native"),
    TargetInfo("qemu-m0", "qemu-m0", TargetKind.QEMU, "microbit", "cortex-m0",
               description="QEMU BBC micro:bit (nRF51822, 16 KB RAM)", board="microbit_qemu",
               builtin="qemu-m0-builtin"),
    TargetInfo("qemu-m0-builtin", "qemu-m0-builtin", TargetKind.QEMU, "microbit", "cortex-m0",
               description="qemu-m0 with a model compiled into flash "
                           "(firmware/.pio/builtin/qhil_builtin_model.h, see platformio.ini)",
               board="microbit_qemu"),
    TargetInfo("qemu-m3", "qemu-m3", TargetKind.QEMU, "mps2-an385", "cortex-m3",
               description="QEMU MPS2 AN385",
               board="mps2_an385", power_profile=F411, links=LAN9118),
    TargetInfo("qemu-m4", "qemu-m4", TargetKind.QEMU, "mps2-an386", "cortex-m4",
               description="QEMU MPS2 AN386",
               board="mps2_an386", power_profile=F411, links=LAN9118, builtin="qemu-m4-builtin"),
    TargetInfo("qemu-m4-builtin", "qemu-m4-builtin", TargetKind.QEMU, "mps2-an386", "cortex-m4",
               description="qemu-m4 with a model compiled into flash (--weights-in flash)",
               board="mps2_an386", power_profile=F411, links=LAN9118),
    TargetInfo("qemu-m7", "qemu-m7", TargetKind.QEMU, "mps2-an500", "cortex-m7",
               description="QEMU MPS2 AN500",
               board="mps2_an500", power_profile=F411, links=LAN9118),
    TargetInfo("qemu-m33", "qemu-m33", TargetKind.QEMU, "mps2-an505", "cortex-m33",
               description="QEMU MPS2 AN505 (Cortex-M33, DSP and FPU; Secure state)",
               board="mps2_an505"),
    TargetInfo("qemu-m55", "qemu-m55", TargetKind.QEMU, "mps3-an547", "cortex-m55",
               description="QEMU MPS3 AN547 (Cortex-M55 with Helium and FPU; Secure state)",
               board="mps3_an547"),
    TargetInfo("qemu-rv32", "qemu-rv32", TargetKind.QEMU, "virt", "rv32imac",
               description="QEMU virt, riscv32 (rv32imac, NS16550A UART; no core clock)",
               board="qemu_virt_rv32", qemu=("qemu-system-riscv32", "-bios", "none")),
    TargetInfo("qemu-stm32f4", "qemu-stm32f4", TargetKind.QEMU, "netduinoplus2", "cortex-m4",
               description="QEMU netduinoplus2 (STM32F405, USART1)", board="netduinoplus2",
               power_profile=F411),
    TargetInfo("renode-stm32f4", "blackpill-f411", TargetKind.RENODE, "qhil-stm32f4.resc", "cortex-m4",
               description="Renode STM32F4 (needs renode on PATH)", board="blackpill_f411",
               power_profile=F411),
    TargetInfo("nucleo-f446re", "nucleo-f446re", TargetKind.BOARD, cpu="cortex-m4",
               description="ST Nucleo-F446RE, USART2 via ST-LINK VCP", board="nucleo_f446re"),
    TargetInfo("blackpill-f411", "blackpill-f411", TargetKind.BOARD, cpu="cortex-m4",
               description="WeAct Black Pill F411, USART1 on PA9/PA10", board="blackpill_f411",
               power_profile=F411),
]}


def target_info(name: str) -> TargetInfo:
    place = place_name(name)
    if place:
        return TargetInfo(name, "", TargetKind.LABGRID, place,
                          description=f"the board of labgrid place '{place}'")
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigError(f"unknown target '{name}' (choose from {', '.join(TARGETS)})") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningTarget:
    """A started target: its process (if any), the transport and the device client.

    :param faults: damage injected into the link (tests, ``--link-faults``)
    """

    info: TargetInfo
    device: Device
    process: subprocess.Popen[bytes] | None = None
    firmware: Path | None = None
    port: str | None = None
    faults: LinkFaults | None = None
    place: LabgridPlace | None = None
    link: EmulatorLink | None = None
    """the emulated link in use (None: not an emulator started here)"""

    def stop(self) -> None:
        try:
            self.device.close()
        finally:
            if self.place is not None:
                self.place.release()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def restart(self) -> None:
        """Start the target afresh (an emulator or the native process is killed and
        started again; a board's port is reopened) and say HELLO. Link counters carry on."""
        counters = self.device.counters
        old = self.device.transport
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.device.close()
        if self.place is not None:  # a board in the lab: its power switch, then its port again
            if self.place.has_power:
                self.place.power_cycle()
            self.port = self.place.serial_url()
        self.process, transport = _launch(self.info, self.firmware, self.port, self.faults,
                                          self.link)
        if isinstance(old, FaultyTransport) and isinstance(transport, FaultyTransport):
            transport.injected = old.injected  # faults injected so far stay counted
        self.device = Device(transport, timeout=self.device.timeout, retries=self.device.retries)
        self.device.counters = counters
        self.device.hello(wait=10.0)

    def __enter__(self) -> RunningTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when qhil dies, even by SIGKILL, so a
    killed bench leaves no emulator or native firmware behind (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start_native(elf: Path) -> tuple[subprocess.Popen[bytes], Transport]:
    proc = subprocess.Popen([str(elf)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_die_with_parent)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("QHIL-PTY "):
        proc.kill()
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise QhilError(f"native firmware did not start: {line or err}")
    return proc, SerialTransport(line.split(" ", 1)[1])


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qemu_command(info: TargetInfo, elf: Path, serial_port: int,
                 ethernet: tuple[int, int] | None = None,
                 icount: str = "shift=7", monitor: str = "none") -> list[str]:
    """QEMU's command line: the UART on a TCP socket, and with ``ethernet`` = (host UDP
    port, device UDP port) the board's NIC on a UDP socket pair; ``monitor`` is QEMU's
    ``-monitor`` (the cycle trace drives one)."""
    qemu = shutil.which(info.qemu[0])
    if qemu is None:
        raise QhilError(f"{info.qemu[0]} is not installed (make setup installs it)")
    cmd = [qemu, *info.qemu[1:], "-M", info.machine, "-nographic", "-monitor", monitor,
           "-icount", icount, "-chardev",
           f"socket,id=s0,host=127.0.0.1,port={serial_port},server=on,wait=off,nodelay=on",
           "-serial", "chardev:s0", "-kernel", str(elf)]
    if ethernet is not None:
        host, device = ethernet
        cmd += ["-nic", f"socket,udp=127.0.0.1:{host},localaddr=127.0.0.1:{device},"
                        "model=lan9118"]
    return cmd


def _start_qemu(info: TargetInfo, elf: Path,
                link: EmulatorLink) -> tuple[subprocess.Popen[bytes], Transport]:
    port = _free_port()
    if link is EmulatorLink.ETHERNET:
        host, device = _free_udp_port(), _free_udp_port()
        transport = EthernetTransport(host, device)
        try:
            proc = subprocess.Popen(qemu_command(info, elf, port, (host, device)),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    preexec_fn=_die_with_parent)
        except Exception:
            transport.close()
            raise
        return proc, transport
    proc = subprocess.Popen(qemu_command(info, elf, port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
    return proc, _connect_socket(proc, port, "QEMU", 10.0)


def _start_renode(info: TargetInfo, elf: Path) -> tuple[subprocess.Popen[bytes], Transport]:
    renode = shutil.which("renode")
    if renode is None:
        raise QhilError("renode is not on PATH: install it from renode.io to use "
                        f"'{info.name}' (qemu-stm32f4 runs the same STM32F4 firmware under QEMU)")
    port = _free_port()
    script = FIRMWARE_DIR / "renode" / info.machine
    cmd = [renode, "--disable-xwt", "--console", "--plain", "-e",
           f"$elf=@{elf}; $port={port}; include @{script}"]
    proc = subprocess.Popen(cmd, cwd=script.parent, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_die_with_parent)
    return proc, _connect_socket(proc, port, "Renode", 60.0)


def _connect_socket(proc: subprocess.Popen[bytes], port: int, what: str,
                    wait: float) -> Transport:
    deadline = time.monotonic() + wait
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise QhilError(f"{what} exited at start: {err.strip()[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                pass
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise QhilError(f"{what} did not open its serial socket in {wait:.0f} s") from None
            time.sleep(0.05)
    return SerialTransport(f"socket://127.0.0.1:{port}")


def _launch(info: TargetInfo, elf: Path | None, port: str | None, faults: LinkFaults | None,
            link: EmulatorLink | None) -> tuple[subprocess.Popen[bytes] | None, Transport]:
    proc: subprocess.Popen[bytes] | None
    transport: Transport
    if port:  # a board, or any target's firmware served elsewhere (ser2net, a lab PC)
        proc, transport = None, SerialTransport(port, info.baud)
    elif info.kind is TargetKind.BOARD:
        raise ConfigError(f"target '{info.name}' is a real board: give its serial port (--port)")
    elif elf is None:
        raise ConfigError(f"target '{info.name}' needs its firmware built (drop --no-build?)")
    elif info.kind is TargetKind.NATIVE:
        proc, transport = _start_native(elf)
    elif info.kind is TargetKind.QEMU:
        assert link is not None, "resolve_link gives every QEMU target started here its link"
        proc, transport = _start_qemu(info, elf, link)
    elif info.kind is TargetKind.RENODE:
        proc, transport = _start_renode(info, elf)
    else:
        raise ConfigError(f"target kind '{info.kind.value}' is not supported")
    if faults is not None and faults.any:
        transport = FaultyTransport(transport, faults)
    return proc, transport


def resolve_link(info: TargetInfo, link: EmulatorLink | None,
                 port: str | None) -> EmulatorLink | None:
    """The link a target started here is reached through: ``link``, or the target's first
    for an emulator; None for a device reached through ``port`` and for targets that are
    not emulators.

    :raises ConfigError: a link the target does not have, or one given with ``port``
    """
    if link is not None and port:
        raise ConfigError(f"--link picks an emulator's link; the device at {port} is reached "
                          "through that port")
    if link is not None and link not in info.links:
        raise ConfigError(f"{info.name} has no {link.value} link (it has: "
                          f"{', '.join(x.value for x in info.links)})")
    if port or info.kind is not TargetKind.QEMU:
        return None
    return link or info.links[0]


def start_target(name: str, port: str | None = None, build: bool = True,
                 timeout: float = 2.0, faults: LinkFaults | None = None,
                 allow_mismatch: bool = False, coordinator: str | None = None,
                 link: EmulatorLink | None = None) -> RunningTarget:
    """Start (or connect to) a target and say HELLO.

    :param port: where the device is: a board's serial device, or a pyserial URL
        (``rfc2217://host:port``, ``socket://host:port``) for any target, whose firmware
        then runs elsewhere and is neither built nor started here
    :param build: build the firmware first (incremental)
    :param faults: damage the link on purpose (see :mod:`qhil.link.faults`)
    :param allow_mismatch: run on a device whose HELLO names another board than the
        target's (a warning instead of a refusal)
    :param coordinator: labgrid coordinator for ``labgrid:PLACE`` targets (default:
        ``$LG_COORDINATOR``); the place is acquired here and released by ``stop()``
    :param link: the emulated link (default: the target's first, Ethernet where QEMU
        models the board's controller); refused for a target without it
    """
    info = target_info(name)
    link = resolve_link(info, link, port)
    place = None
    if info.kind is TargetKind.LABGRID:
        place = LabgridPlace(info.machine, coordinator)
        place.acquire()
        try:
            port = place.serial_url()
        except Exception:
            place.release()
            raise
    elf = None
    if info.kind not in (TargetKind.BOARD, TargetKind.LABGRID) and not port:
        if build:
            LOG.info("building firmware %s (incremental) ...", info.pio_env)
        elf = build_firmware(info.pio_env) if build else built_firmware(info.pio_env)
    LOG.info("starting %s%s ...", name, f" on {port}" if port else "")
    try:
        proc, transport = _launch(info, elf, port, faults, link)
    except Exception:
        if place is not None:
            place.release()
        raise
    running = RunningTarget(info, Device(transport, timeout=timeout), proc, elf, port, faults,
                            place, link)
    try:
        hello = running.device.hello(wait=10.0)
        if info.board and hello.board != info.board:
            problem = (f"the device at {port or 'the started target'} says it is "
                       f"'{hello.board}' ({hello.cpu}), not {info.name}'s '{info.board}'")
            if not allow_mismatch:
                raise ConfigError(problem + "; name its target, or pass --allow-mismatch")
            LOG.warning("%s: running anyway (--allow-mismatch)", problem)
    except Exception:
        running.stop()
        raise
    return running


@dataclass(frozen=True)
class TargetSettings:
    """Where a command's device is: the options every device command shares."""

    target: str = setting("qemu-m4", help=(
        "where the firmware runs: " + ", ".join(TARGETS) + ", or labgrid:PLACE (a board "
        "shared through labgrid)"))
    port: str | None = setting(None, help=(
        "where the device is: a board's serial port (/dev/ttyACM0, see 'qhil devices') or, "
        "for any target, a pyserial URL (rfc2217://lab-pc:2000, socket://host:port) whose "
        "firmware then runs there; the device's HELLO must name the target's board"))
    allow_mismatch: bool = setting(False, help=(
        "run even when the device at --port says it is another board"))
    coordinator: str | None = setting(None, metavar="HOST:PORT", help=(
        "labgrid coordinator of --target labgrid:PLACE (default: $LG_COORDINATOR)"))
    no_build: bool = setting(False, help=(
        "use the firmware already built instead of running 'pio run' first"))
    timeout: float = setting(2.0, parse=positive_float, help=(
        "seconds to wait for each device answer"))
    link: str | None = setting(None, metavar="LINK", help=(
        "how the host reaches an emulated board: 'ethernet' (the default where QEMU models "
        "the board's Ethernet controller: qemu-m3, qemu-m4, qemu-m7; a request per frame, "
        "~20x faster round trips) or 'uart' (what silicon has; every other target)"))
    weights_in: str = setting("ram", metavar="{ram,flash}", help=(
        "'ram': models are uploaded into the device's RAM arena; 'flash': each is compiled "
        "into the firmware's flash image and the target started with it, the way products "
        "ship (qemu-m0, qemu-m4; arena B then shows '-')"))
    widen_weights: bool = setting(False, help=(
        "let the kernel copy the weights into a wider form at load where that is faster "
        "(the Cortex-M4/M7 DSP kernel: int16, two weights per SMLAD); the copy's RAM is in "
        "the report's arena bytes. Default: weights are read where the blob keeps them, "
        "laid out for the target's kernel by the host (docs/model-format.md#layouts)"))

    def __post_init__(self) -> None:
        if self.link and not place_name(self.target):  # refused before anything runs
            resolve_link(self.info, self.emulator_link, self.port)
        if self.where_weights is WeightsIn.FLASH:
            if not self.info.builtin or self.port:
                with_builtin = ", ".join(t.name for t in TARGETS.values() if t.builtin)
                raise ConfigError(f"--weights-in flash: {self.target} has no firmware build with "
                                  f"a model compiled in (targets that have: {with_builtin})")
            if self.widen_weights:
                raise ConfigError("--widen-weights copies weights into RAM at load; with "
                                  "--weights-in flash they are read from flash: choose one")

    @property
    def where_weights(self) -> WeightsIn:
        return WeightsIn.parse(self.weights_in)

    @property
    def info(self) -> TargetInfo:
        return target_info(self.target)

    @property
    def emulator_link(self) -> EmulatorLink | None:
        return EmulatorLink.parse(self.link) if self.link else None

    def start(self, faults: LinkFaults | None = None, model: bytes | None = None
              ) -> RunningTarget:
        """Build (unless ``no_build``), start or connect, and say HELLO.

        :param model: with ``--weights-in flash``, the blob the firmware starts with
        """
        def launch(name: str, build: bool) -> RunningTarget:
            return start_target(name, port=self.port, build=build, timeout=self.timeout,
                                faults=faults, allow_mismatch=self.allow_mismatch,
                                coordinator=self.coordinator, link=self.emulator_link)

        if self.where_weights is WeightsIn.RAM:
            return launch(self.target, not self.no_build)
        if model is None:
            raise ConfigError("--weights-in flash needs a model to build into the firmware")
        with builtin_lock():
            build_with_model(TARGETS[self.info.builtin].pio_env, model)
            return launch(self.info.builtin, False)
