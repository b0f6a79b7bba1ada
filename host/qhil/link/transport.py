"""Byte transports: a pyserial port (tty device, pty, ``socket://``) or an in-memory pair."""

from __future__ import annotations

import os
import select
import time
from abc import ABC, abstractmethod

import serial

from qhil.common.errors import LinkError

__all__ = ["Transport", "SerialTransport", "open_transport"]


class Transport(ABC):
    """A full-duplex byte stream. Lifecycle: construct (opens) -> read/write -> close."""

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to ``max_bytes`` bytes; waits at most ``timeout`` s for the first one."""

    @abstractmethod
    def close(self) -> None: ...

    def reset_input(self) -> None:
        """Discard whatever has been received and not read yet."""
        while self.read(4096, 0.0):
            pass


class SerialTransport(Transport):
    """pyserial: ``/dev/ttyACM0``, a pty path, or ``socket://127.0.0.1:PORT`` (QEMU)."""

    def __init__(self, url: str, baudrate: int = 115200, connect_timeout: float = 5.0) -> None:
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
                break
            except (serial.SerialException, OSError) as exc:
                if time.monotonic() > deadline:
                    raise LinkError(f"cannot open {url}: {exc}") from None
                time.sleep(0.05)
        self.url = url

    def write(self, data: bytes) -> None:
        try:
            fd = getattr(self._port, "fd", None)
            if isinstance(fd, int):
                # a tty or pty: one write() call; pyserial's own loop costs ~15 us a frame
                try:
                    sent = os.write(fd, data)
                except BlockingIOError:
                    sent = 0
                data = data[sent:]
            if data:
                self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"write to {self.url} failed: {exc}") from None

    def _waitable(self) -> int | None:
        """The descriptor select() can wait on: the tty/pty's, or the socket's of a plain
        ``socket://`` URL (QEMU). Not an ``rfc2217://`` port's: its reader thread drains the
        socket into a queue, so select() on the socket would miss what it took."""
        fd = getattr(self._port, "fd", None)
        if isinstance(fd, int):
            return fd
        if type(self._port).__module__.endswith("protocol_socket"):
            sock = getattr(self._port, "_socket", None)
            return sock.fileno() if sock is not None else None
        return None

    def read(self, max_bytes: int, timeout: float) -> bytes:
        # The port stays non-blocking (timeout=0): changing pyserial's timeout costs a
        # tcsetattr() per change, which was a third of a native round trip.
        try:
            waitable = self._waitable()
            if waitable is not None:
                if not self._port.in_waiting:
                    ready, _, _ = select.select([waitable], [], [], max(timeout, 0.0))
                    if not ready:
                        return b""
                return self._port.read(min(max(self._port.in_waiting, 1), max_bytes))
            # Nothing to select() on (rfc2217: a reader thread fills a queue). Poll the
            # queue: setting the port's timeout would renegotiate the port each time.
            deadline = time.monotonic() + max(timeout, 0.0)
            while True:
                waiting = self._port.in_waiting
                if waiting:
                    return self._port.read(min(waiting, max_bytes))
                if time.monotonic() >= deadline:
                    return b""
                time.sleep(0.0002)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"read from {self.url} failed: {exc}") from None

    def close(self) -> None:
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass


def open_transport(url: str, baudrate: int = 115200) -> Transport:
    return SerialTransport(url, baudrate)
