"""A link paced like a UART: 10 bit times a byte (8N1), each way.

An emulator's socket moves a frame in microseconds; a board's UART at 115200 baud takes
87 us a byte, so a 46-byte INFER round trip costs ~8 ms on an ST-LINK VCP before the MCU
computes anything. Pacing an emulated link makes timeouts, throughput and round trips
those of the board it stands for (``--link-baud 115200``).
"""

from __future__ import annotations

import time

from qhil.link.transport import Transport

__all__ = ["PacedTransport", "BITS_PER_BYTE"]

#: start bit, 8 data bits, stop bit
BITS_PER_BYTE = 10


class PacedTransport(Transport):
    """Wraps a transport: a write returns when its last byte would have left the wire; a
    byte read becomes available when it would have arrived, one byte time after the one
    before it at the earliest."""

    def __init__(self, inner: Transport, baud: int) -> None:
        if baud <= 0:
            raise ValueError(f"baud must be positive, got {baud}")
        self.inner = inner
        self.baud = baud
        self.byte_time = BITS_PER_BYTE / baud
        self._rx_free_at = 0.0  # when the receive line is next idle
        self._held = b""

    def write(self, data: bytes) -> None:
        self.inner.write(data)
        time.sleep(len(data) * self.byte_time)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        deadline = time.monotonic() + max(timeout, 0.0)
        if not self._held:
            got = self.inner.read(4096, timeout)
            if not got:
                return b""
            self._held = got
            self._rx_free_at = max(self._rx_free_at, time.monotonic())
        # the bytes that have arrived by the deadline, each one byte time after the last
        now = time.monotonic()
        wait_first = self._rx_free_at + self.byte_time - now
        if wait_first > max(deadline - now, 0.0):
            return b""
        if wait_first > 0:
            time.sleep(wait_first)
            now = time.monotonic()
        arrived = int((now - self._rx_free_at) / self.byte_time)
        n = max(1, min(arrived, max_bytes, len(self._held)))
        out, self._held = self._held[:n], self._held[n:]
        self._rx_free_at += n * self.byte_time
        return out

    def close(self) -> None:
        self.inner.close()
