"""One driver class per kind of target: how it is built, started, reached, restarted,
flashed and given a model, and what it can do (labgrid's Driver, pyOCD's probe class).

A :class:`~qhil.targets.info.TargetInfo` row names its driver class; :func:`open_target`
makes the driver for a row (a device at a URL gets :class:`RemoteTarget`). Everything that
differs between kinds lives here, as methods and capability flags: code elsewhere asks a
driver (``target.can_trace``, ``target.exclusive``, ``target.put_model(...)``), never
which kind it is. A new kind is a subclass of :class:`Target` (docs/api.md#extending).

Lifecycle: construct (nothing runs) -> :meth:`Target.start` (firmware built or located,
the target launched or its port opened, HELLO) -> requests through :attr:`Target.device`
-> :meth:`Target.restart` as often as needed -> :meth:`Target.stop`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from qhil.common.errors import ConfigError, QhilError
from qhil.link.device import Device, LoadInfo
from qhil.link.ethernet import EthernetTransport
from qhil.link.faults import FaultyTransport, LinkFaults
from qhil.link.framing import LoadPrep
from qhil.link.paced import PacedTransport
from qhil.link.transport import SerialTransport, Transport
from qhil.quant.blob import blob_id, device_blob
from qhil.targets.firmware import (
    FIRMWARE_DIR,
    build_firmware,
    build_with_model,
    builtin_lock,
    elf_memory,
    firmware_path,
    upload_command,
)
from qhil.targets.fit import does_not_fit
from qhil.targets.info import EmulatorLink, ModelRoom, TargetInfo, WeightsIn, board_json
from qhil.targets.labgrid_place import LabgridPlace
from qhil.targets.probes import upload_tool

__all__ = ["Target", "Connection", "NativeTarget", "QemuTarget", "RenodeTarget", "BoardTarget",
           "RemoteTarget", "LabgridTarget", "open_target", "qemu_command", "free_port",
           "connect_socket"]

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connection:
    """How a target is reached, beyond its row: the options every device command shares.

    :param port: a board's serial port, or a URL where any target's firmware runs
    :param link: the emulated link (None: the target's default)
    :param link_baud: pace the link at this baud rate, 10 bit times a byte each way, as a
        board's UART (an ST-LINK VCP at 115200); None: as fast as the link goes
    :param faults: damage injected into the link (tests, ``--link-faults``)
    :param timeout: seconds to wait for each answer
    :param allow_mismatch: run on a device whose HELLO names another board
    :param coordinator: labgrid coordinator (``labgrid:PLACE`` targets)
    :param boot_wait: seconds a device may take to answer HELLO after it (re)starts
    """

    port: str | None = None
    link: EmulatorLink | None = None
    link_baud: int | None = None
    faults: LinkFaults | None = None
    timeout: float = 2.0
    allow_mismatch: bool = False
    coordinator: str | None = None
    boot_wait: float = 10.0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A free TCP (or UDP) port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when qhil dies, even by SIGKILL, so a
    killed bench leaves no emulator or native firmware behind (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Target(ABC):
    """A target of one kind, started by :meth:`start`.

    Capabilities (class flags the rest of qhil asks instead of the kind):

    - ``builds_here``: its firmware is built on this machine and runs here (native,
      emulators): a distributed run builds it once before its jobs start;
    - ``exclusive``: one user at a time (a board): a distributed run gives it one job;
    - ``can_trace``: a QEMU cycle trace of an inference (``--cycles``);
    - ``emulated``: its clock is QEMU's instruction count, not a crystal's.
    """

    kind: ClassVar[str]
    builds_here: ClassVar[bool] = True
    exclusive: ClassVar[bool] = False
    can_trace: ClassVar[bool] = False
    emulated: ClassVar[bool] = False

    def __init__(self, info: TargetInfo, connection: Connection | None = None) -> None:
        self.info = info
        self.connection = connection or Connection()
        self.process: subprocess.Popen[bytes] | None = None
        self.firmware: Path | None = None
        """the ELF that runs (None: built and run elsewhere)"""
        self.link: EmulatorLink | None = None
        """the emulated link in use (None: not an emulator started here)"""
        self._device: Device | None = None

    # -- what it is --------------------------------------------------------------------
    @property
    def device(self) -> Device:
        if self._device is None:
            raise QhilError(f"{self.info.name} is not started")
        return self._device

    @property
    def port(self) -> str | None:
        """Where the device was reached, when it is a port or URL (reports say it)."""
        return self.connection.port

    def memory(self) -> dict[str, int] | None:
        """Flash and static RAM of the firmware that runs, from its ELF (None: unknown)."""
        return elf_memory(self.firmware) if self.firmware is not None else None

    def ray_resources(self) -> dict[str, float]:
        """Custom Ray resources a job on this target needs (a board: its node's)."""
        return {}

    def model_room(self, weights_in: WeightsIn) -> ModelRoom:
        """How many bytes a model may take where it goes: the RAM arena HELLO declares, or
        with ``weights_in=FLASH`` the flash the firmware leaves."""
        if weights_in is WeightsIn.FLASH:
            return ModelRoom(self.flash_room() or 0, "flash")
        info = self.device.info
        assert info is not None
        return ModelRoom(info.arena_bytes, "model arena")

    def flash_room(self) -> int | None:
        """Bytes of flash a model compiled into the firmware may take: the board's flash
        less the firmware's own (None: this target builds no such image)."""
        if not self.info.builtin or not self.info.flash_size:
            return None
        elf = self.firmware or firmware_path(self.info.pio_env)
        if not elf.is_file():
            return None
        # the firmware with a model has the same code; a little alignment slack
        return self.info.flash_size - elf_memory(elf)["flash"] - 64

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, build: bool = True) -> Target:
        """Build (or locate) the firmware, launch or connect, say HELLO and check that the
        device is this target's board."""
        self.firmware = self._firmware(build)
        transport = self._connect()
        self._device = Device(transport, timeout=self.connection.timeout)
        try:
            hello = self._device.hello(wait=self.connection.boot_wait)
            self._check_board(hello.board, hello.cpu)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._device is not None:
            self._device.close()
        self._end_process()

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def restart(self) -> None:
        """Start the target afresh (an emulator or the native process is killed and
        started again; a board's port is reopened) and say HELLO. Link counters carry on."""
        old = self._device
        if old is not None:
            old.close()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        transport = self._connect()
        if old is not None and isinstance(old.transport, FaultyTransport) and \
                isinstance(transport, FaultyTransport):
            transport.injected = old.transport.injected  # faults injected so far stay counted
        self._device = Device(transport, timeout=self.connection.timeout,
                              retries=old.retries if old is not None else 5)
        if old is not None:
            self._device.counters = old.counters
        self._device.hello(wait=self.connection.boot_wait)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _end_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _firmware(self, build: bool) -> Path | None:
        if not self.builds_here:
            return None
        if build:
            LOG.info("building firmware %s (incremental) ...", self.info.pio_env)
            return build_firmware(self.info.pio_env)
        path = firmware_path(self.info.pio_env)
        if not path.is_file():
            raise QhilError(f"no firmware built for '{self.info.pio_env}' at {path}: "
                            "run 'qhil flash --target ...' or drop --no-build")
        return path

    def _connect(self) -> Transport:
        LOG.info("starting %s%s ...", self.info.name,
                 f" on {self.connection.port}" if self.connection.port else "")
        transport = self._launch()
        if self.connection.link_baud:
            transport = PacedTransport(transport, self.connection.link_baud)
        faults = self.connection.faults
        if faults is not None and faults.any:
            transport = FaultyTransport(transport, faults)
        return transport

    @abstractmethod
    def _launch(self) -> Transport:
        """Start the target (or open its port) and return the link to its firmware."""

    def _check_board(self, board: str, cpu: str) -> None:
        if not self.info.board or board == self.info.board:
            return
        problem = (f"the device at {self.connection.port or 'the started target'} says it is "
                   f"'{board}' ({cpu}), not {self.info.name}'s '{self.info.board}'")
        if not self.connection.allow_mismatch:
            raise ConfigError(problem + "; name its target, or pass --allow-mismatch")
        LOG.warning("%s: running anyway (--allow-mismatch)", problem)

    # -- firmware ----------------------------------------------------------------------
    def flash(self, protocol: str | None = None, port: str | None = None) -> Path:
        """``qhil flash``: build the firmware and put it where the target runs it. An
        emulator needs only the build (it loads the ELF at start), unless ``protocol``
        names an upload to a GDB server of a running emulator."""
        if protocol is None:
            return build_firmware(self.info.pio_env)
        return self._upload(protocol, port)

    def _upload(self, protocol: str, port: str | None) -> Path:
        """Build, then ``pio run -t upload`` with the real tool. Every check that needs no
        probe runs before the build: the tool installed, the board's names known to it,
        the exact upload command accepted by the tool."""
        tool = upload_tool(protocol)
        if protocol not in self.info.upload_protocols:
            raise ConfigError(f"{self.info.name} is not uploaded through {protocol} (its "
                              f"board has: {', '.join(self.info.upload_protocols) or 'none'})")
        for problem in (tool.missing(), tool.check_board(board_json(self.info.board))):
            if problem:
                raise ConfigError(f"cannot upload to {self.info.name}: {problem}")
        env = {"UPLOAD_PROTOCOL": protocol, "UPLOAD_PORT": port or ""}
        problem = tool.check_command(upload_command(self.info.pio_env, env))
        if problem:
            raise ConfigError(f"cannot upload to {self.info.name}: {problem}")
        LOG.info("building %s ...", self.info.pio_env)
        elf = build_firmware(self.info.pio_env)
        LOG.info("uploading to %s through %s ...", self.info.name, protocol)
        try:
            build_firmware(self.info.pio_env, target="upload", env=env)
        except QhilError as exc:
            failure = tool.failure(str(exc))
            fix = f"; {tool.NO_PROBE_FIX}" if failure.startswith("no ") else ""
            raise QhilError(f"upload to {self.info.name} through {protocol} failed (the "
                            f"build succeeded): {failure}{fix}") from None
        LOG.info("uploaded to %s", self.info.name)
        return elf

    # -- models ------------------------------------------------------------------------
    def put_model(self, blob: bytes, *, prep: LoadPrep = LoadPrep.STORED,
                  weights_in: WeightsIn = WeightsIn.RAM) -> LoadInfo:
        """Make ``blob`` the device's active model, the one way bench, run, the cycle trace
        and ``qhil.api.infer`` all load: laid out for the kernel the device names in
        HELLO, then uploaded (LOAD, with ``prep``'s flags) or, with
        ``weights_in=FLASH``, built into the target's ``-builtin`` firmware, which is
        started with it. A device that already runs the model is left as it is."""
        info = self.device.info
        assert info is not None
        # compact: no layer padded into blocks either (the model's own bytes)
        blob = device_blob(blob, info.weight_order, info.model_format,
                           pad_free=prep is LoadPrep.COMPACT)
        room = self.model_room(weights_in)
        if room.where == "flash" and not room.bytes:
            # no flash figure (no built-in image, or its ELF not built yet): the widths,
            # depth and version are judged here, the bytes by the build
            room = ModelRoom(len(blob), "flash")
        reason = does_not_fit(blob, info, room)
        if reason:
            raise ConfigError(f"{self.info.name} cannot take the model: {reason}")
        if weights_in is WeightsIn.FLASH and self.device.stats()["model_id"] != blob_id(blob):
            self._start_with_model(blob)
            if self.device.stats()["model_id"] != blob_id(blob):
                raise QhilError(f"{self.info.name} did not start with the model built into it; "
                                "nothing was uploaded instead")
        return self.device.ensure_loaded(blob, prep=prep)

    def _start_with_model(self, blob: bytes) -> None:
        if not self.info.builtin or not self.builds_here:
            raise ConfigError(f"--weights-in flash: {self.info.name} has no firmware build "
                              "with a model compiled in")
        with builtin_lock():  # until the target runs it: another model's build would race
            self.firmware = build_with_model(self.info.builtin, blob)
            self.restart()


class NativeTarget(Target):
    """The firmware as a host process, its UART a pty (tests, fuzzing, CI)."""

    kind = "native"

    def memory(self) -> dict[str, int] | None:
        return None  # a host executable's sections say nothing about an MCU

    def _launch(self) -> Transport:
        assert self.firmware is not None
        proc = subprocess.Popen([str(self.firmware)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("QHIL-PTY "):
            proc.kill()
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise QhilError(f"native firmware did not start: {line or err}")
        self.process = proc
        return SerialTransport(line.split(" ", 1)[1])


def qemu_command(info: TargetInfo, elf: Path | None, serial_port: int,
                 ethernet: tuple[int, int] | None = None, icount: str = "shift=7",
                 monitor: str = "none", gdb_port: int | None = None) -> list[str]:
    """QEMU's command line (docs/protocol.md lists each target's): the UART on a TCP
    socket, and with ``ethernet`` = (host UDP port, device UDP port) the board's NIC on a
    UDP socket pair; ``monitor`` is QEMU's ``-monitor`` (the cycle trace drives one);
    ``gdb_port`` starts QEMU halted with its GDB server there, and ``elf`` None with no
    image: a GDB-server upload puts the firmware in (``qhil flash --upload-protocol
    gdb-server``)."""
    qemu = shutil.which(info.qemu[0])
    if qemu is None:
        raise QhilError(f"{info.qemu[0]} is not installed (make setup installs it)")
    cmd = [qemu, *info.qemu[1:], "-M", info.machine, "-nographic", "-monitor", monitor,
           "-icount", icount, "-chardev",
           f"socket,id=s0,host=127.0.0.1,port={serial_port},server=on,wait=off,nodelay=on",
           "-serial", "chardev:s0"]
    if elf is not None:
        cmd += ["-kernel", str(elf)]
    if ethernet is not None:
        host, device = ethernet
        cmd += ["-nic", f"socket,udp=127.0.0.1:{host},localaddr=127.0.0.1:{device},"
                        "model=lan9118"]
    if gdb_port is not None:
        cmd += ["-gdb", f"tcp:127.0.0.1:{gdb_port}", "-S"]
    return cmd


def connect_socket(proc: subprocess.Popen[bytes], port: int, what: str,
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


class QemuTarget(Target):
    """An emulated board: QEMU with ``-icount shift=7`` (instructions counted exactly).

    :param trace_log: run for a cycle trace: QEMU logs executed blocks there (``-d
        nochain``) and takes HMP commands on :attr:`monitor_port`, over the UART link
    """

    kind = "qemu"
    can_trace = True
    emulated = True

    def __init__(self, info: TargetInfo, connection: Connection | None = None,
                 trace_log: Path | None = None) -> None:
        super().__init__(info, connection)
        link = self.connection.link
        if link is not None and link not in info.links:
            raise ConfigError(f"{info.name} has no {link.value} link (it has: "
                              f"{', '.join(x.value for x in info.links)})")
        self.trace_log = trace_log
        self.monitor_port = free_port() if trace_log is not None else None
        self.link = EmulatorLink.UART if trace_log is not None else link or info.links[0]

    def _launch(self) -> Transport:
        assert self.firmware is not None
        port = free_port()
        monitor = (f"tcp:127.0.0.1:{self.monitor_port},server=on,wait=off"
                   if self.monitor_port is not None else "none")
        extra = ["-d", "nochain", "-D", str(self.trace_log)] if self.trace_log is not None else []
        if self.link is EmulatorLink.ETHERNET:
            host, device = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
            transport = EthernetTransport(host, device)
            try:
                self.process = subprocess.Popen(
                    qemu_command(self.info, self.firmware, port, (host, device)),
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    preexec_fn=_die_with_parent)
            except Exception:
                transport.close()
                raise
            return transport
        self.process = subprocess.Popen(
            qemu_command(self.info, self.firmware, port, monitor=monitor) + extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        return connect_socket(self.process, port, "QEMU", 10.0)


class RenodeTarget(Target):
    """An emulated board under Renode (``firmware/renode/*.resc``), when it is on PATH."""

    kind = "renode"
    emulated = True

    def _launch(self) -> Transport:
        assert self.firmware is not None
        renode = shutil.which("renode")
        if renode is None:
            raise QhilError("renode is not on PATH: install it from renode.io to use "
                            f"'{self.info.name}' (qemu-stm32f4 runs the same STM32F4 firmware "
                            "under QEMU)")
        port = free_port()
        script = FIRMWARE_DIR / "renode" / self.info.machine
        cmd = [renode, "--disable-xwt", "--console", "--plain", "-e",
               f"$elf=@{self.firmware}; $port={port}; include @{script}"]
        self.process = subprocess.Popen(cmd, cwd=script.parent, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        preexec_fn=_die_with_parent)
        return connect_socket(self.process, port, "Renode", 60.0)


class BoardTarget(Target):
    """A real board on a serial port of this machine (``--port /dev/ttyACM0``).

    Boards behave as USB serial devices do: many reset when the port opens (DTR) and print
    boot noise before their ready announcement, which the first HELLO waits through (the
    noise counts as damaged frames, never as answers); a USB CDC port disappears while the
    board resets and comes back, which :meth:`restart` waits for within ``boot_wait``.
    """

    kind = "board"
    builds_here = False
    exclusive = True

    def start(self, build: bool = True) -> Target:
        if not self.connection.port:
            raise ConfigError(f"target '{self.info.name}' is a real board: give its serial port "
                              "(--port)")
        return super().start(build)

    def ray_resources(self) -> dict[str, float]:
        return {f"board:{self.info.name}": 1}

    def flash(self, protocol: str | None = None, port: str | None = None) -> Path:
        return self._upload(protocol or (self.info.upload_protocols or ("openocd",))[0], port)

    def _firmware(self, build: bool) -> Path | None:
        return None  # built and uploaded by 'qhil flash'

    def restart(self) -> None:
        self._restarting = True
        try:
            super().restart()
        finally:
            self._restarting = False

    def _launch(self) -> Transport:
        port = self.connection.port
        assert port is not None
        if getattr(self, "_restarting", False):
            _wait_for_port(port, self.connection.boot_wait)
        elif "://" not in port and not os.path.exists(port):
            raise ConfigError(f"no serial port {port} ('qhil devices' lists the ports)")
        # the port is there (or, for a URL, the server's to answer): open it at once
        return SerialTransport(port, self.info.baud, connect_timeout=0.5)


def _wait_for_port(port: str, wait: float) -> None:
    """A USB CDC port re-enumerates when its board resets: wait for the device node."""
    if "://" in port:
        return
    deadline = time.monotonic() + wait
    while not os.path.exists(port):
        if time.monotonic() > deadline:
            raise QhilError(f"{port} did not come back within {wait:.0f} s (unplugged? the "
                            "board did not re-enumerate after its reset)")
        time.sleep(0.05)


class RemoteTarget(Target):
    """Any target's firmware running elsewhere, reached by URL (``socket://``, ser2net's
    ``rfc2217://``) or a port: nothing is built or started here; a restart reopens it."""

    kind = "remote"
    builds_here = False

    def _firmware(self, build: bool) -> Path | None:
        return None

    def _launch(self) -> Transport:
        port = self.connection.port
        assert port is not None
        _wait_for_port(port, self.connection.boot_wait)
        return SerialTransport(port, self.info.baud)


class LabgridTarget(Target):
    """The board of a labgrid place (``labgrid:PLACE``): acquired at start, reached through
    the place's NetworkSerialPort (ser2net), power-cycled by its NetworkPowerPort when it
    stops answering, released at stop."""

    kind = "labgrid"
    builds_here = False
    exclusive = True

    def __init__(self, info: TargetInfo, connection: Connection | None = None) -> None:
        super().__init__(info, connection)
        self.place = LabgridPlace(info.machine, self.connection.coordinator)
        self._url: str | None = None

    @property
    def port(self) -> str | None:
        return self._url

    def start(self, build: bool = True) -> Target:
        self.place.acquire()
        try:
            self._url = self.place.serial_url()
            return super().start(build)
        except BaseException:
            self.place.release()
            raise

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.place.release()

    def restart(self) -> None:
        if self.place.has_power:
            self.place.power_cycle()
        self._url = self.place.serial_url()
        super().restart()

    def _firmware(self, build: bool) -> Path | None:
        return None

    def _launch(self) -> Transport:
        assert self._url is not None
        return SerialTransport(self._url, self.info.baud)


def open_target(info: TargetInfo, connection: Connection | None = None, **options: Any) -> Target:
    """The driver for a row (not started): the row's own, or :class:`RemoteTarget` when a
    target that runs here is reached at a port or URL instead.

    :raises ConfigError: a link given with a port
    """
    connection = connection or Connection()
    if connection.port and connection.link is not None:
        raise ConfigError(f"--link picks an emulator's link; the device at {connection.port} "
                          "is reached through that port")
    if connection.port and info.driver.builds_here:
        return RemoteTarget(info, connection)
    if connection.link is not None and not info.links:
        raise ConfigError(f"{info.name} has no {connection.link.value} link (it has: none)")
    return info.driver(info, connection, **options)
