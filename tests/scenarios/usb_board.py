"""A board on USB as the host meets it, made of the native firmware behind a pty:

- opening the port resets it (DTR on an ST-LINK VCP or a CH340 wired to NRST): the
  firmware restarts, what the host sends while it boots is lost, and it prints boot noise
  (text, and bytes that look like damaged frames) before it answers;
- :meth:`FakeUsbBoard.unplug` is a USB CDC re-enumeration: the port's device node
  disappears (the host's open port fails), and comes back ``reenumerate_s`` later as a new
  tty under the same name.

The port is a symlink (``link``) to the current pty, as udev's /dev/serial/by-id names are.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time
import tty
from pathlib import Path

BOOT_NOISE = (b"\r\nqhil-boot 1.0 (bootloader)\r\nclock 84 MHz, flash OK\r\n"
              b"\x00\xfe\x01\x02\x00\x13\x37\x00boot> \r\n")


class FakeUsbBoard:
    def __init__(self, elf: Path, link: Path, boot_s: float = 0.4,
                 reenumerate_s: float = 2.0) -> None:
        self.elf, self.link = elf, link
        self.boot_s, self.reenumerate_s = boot_s, reenumerate_s
        self.resets = 0
        self.noise_bytes = 0
        self._stop = threading.Event()
        self._master: int | None = None
        self._firmware: subprocess.Popen[str] | None = None
        self._fw_fd: int | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    # -- the port -----------------------------------------------------------------------
    def _plug_in(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # as a USB CDC tty: no line discipline between host and board
        name = os.ttyname(slave)
        os.close(slave)  # nobody has the port open until the host does
        self._master = master
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        tmp.replace(self.link)

    def unplug(self) -> None:
        """The board resets and its USB device re-enumerates."""
        with self._lock:
            self.link.unlink(missing_ok=True)
            if self._master is not None:
                os.close(self._master)
                self._master = None
            self._kill_firmware()
        threading.Timer(self.reenumerate_s, self._replug).start()

    def _replug(self) -> None:
        with self._lock:
            if not self._stop.is_set():
                self._plug_in()

    # -- the firmware -------------------------------------------------------------------
    def _kill_firmware(self) -> None:
        if self._fw_fd is not None:
            os.close(self._fw_fd)
            self._fw_fd = None
        if self._firmware is not None:
            self._firmware.kill()
            self._firmware.wait()
            self._firmware = None

    def _boot(self) -> None:
        """A reset: the firmware starts again; until it runs, input is lost; then noise."""
        self.resets += 1
        self._kill_firmware()
        deadline = time.monotonic() + self.boot_s
        proc = subprocess.Popen([str(self.elf)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        pty = proc.stdout.readline().split()[1]
        fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        while time.monotonic() < deadline:  # booting: the host's bytes go nowhere
            self._drain(self._master, 0.02)
        assert self._master is not None
        os.write(self._master, BOOT_NOISE)
        self.noise_bytes += len(BOOT_NOISE)
        self._firmware, self._fw_fd = proc, fd

    @staticmethod
    def _drain(fd: int | None, wait: float) -> None:
        if fd is None:
            time.sleep(wait)
            return
        ready, _, _ = select.select([fd], [], [], wait)
        if ready:
            try:
                os.read(fd, 4096)
            except OSError:
                pass

    # -- the relay ----------------------------------------------------------------------
    def _host_connected(self) -> bool:
        assert self._master is not None
        poller = select.poll()
        poller.register(self._master, select.POLLHUP)
        return not any(ev & select.POLLHUP for _, ev in poller.poll(0))

    def _run(self) -> None:
        connected = False
        while not self._stop.is_set():
            with self._lock:
                master = self._master
                if master is None:
                    connected = False
                elif not connected and self._host_connected():
                    connected = True
                    self._boot()  # the port opened: DTR reset
                elif connected and not self._host_connected():
                    connected = False
            if master is None or not connected or self._fw_fd is None:
                time.sleep(0.01)
                continue
            fds = [master, self._fw_fd]
            try:
                ready, _, _ = select.select(fds, [], [], 0.02)
                for fd in ready:
                    data = os.read(fd, 4096)
                    os.write(self._fw_fd if fd == master else master, data)
            except (OSError, TypeError):
                continue  # unplugged under our feet

    def __enter__(self) -> FakeUsbBoard:
        self._plug_in()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            self._kill_firmware()
            if self._master is not None:
                os.close(self._master)
            self.link.unlink(missing_ok=True)
