"""The protocol's byte stream over emulated Ethernet (docs/protocol.md#ethernet-link).

QEMU connects a board's modelled LAN9118 to a UDP socket (``-nic socket,udp=...``): each
datagram is one Ethernet frame. A frame of EtherType 0x88B5 carries a chunk of the same
byte stream the UART would: ``u16`` byte count (little-endian), the bytes, zero padding
up to the 60-byte minimum frame. A whole request arrives at the device in one frame
instead of one byte per emulated UART interrupt.
"""

from __future__ import annotations

import select
import socket
import struct

from qhil.common.errors import LinkError
from qhil.link.transport import Transport

__all__ = ["EthernetTransport", "ETHERTYPE", "HOST_MAC", "frame", "chunk_of"]

ETHERTYPE = 0x88B5
HOST_MAC = bytes.fromhex("025148495301")
BROADCAST = b"\xff" * 6
MAX_CHUNK = 1498
_MIN_FRAME = 60


def frame(data: bytes, src: bytes = HOST_MAC, dst: bytes = BROADCAST) -> bytes:
    """One Ethernet frame (no FCS) carrying ``data`` (at most 1,498 bytes)."""
    if len(data) > MAX_CHUNK:
        raise ValueError(f"{len(data)} bytes do not fit one frame ({MAX_CHUNK} at most)")
    body = dst + src + struct.pack(">H", ETHERTYPE) + struct.pack("<H", len(data)) + data
    return body.ljust(_MIN_FRAME, b"\0")


def chunk_of(datagram: bytes) -> bytes | None:
    """The stream bytes a received frame carries, or None for a frame that is not one."""
    if len(datagram) < 16 or struct.unpack(">H", datagram[12:14])[0] != ETHERTYPE:
        return None
    (count,) = struct.unpack("<H", datagram[14:16])
    if count > len(datagram) - 16:
        return None
    return datagram[16:16 + count]


class EthernetTransport(Transport):
    """A UDP socket on 127.0.0.1 exchanging frames with QEMU's ``-nic socket,udp=``.

    :param local_port: where QEMU sends the device's frames (``udp=`` of the NIC)
    :param device_port: where QEMU listens for frames to the device (``localaddr=``)
    """

    def __init__(self, local_port: int, device_port: int) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind(("127.0.0.1", local_port))
        except OSError as exc:
            self._sock.close()
            raise LinkError(f"cannot bind UDP 127.0.0.1:{local_port}: {exc}") from None
        self._sock.setblocking(False)
        self._device = ("127.0.0.1", device_port)
        self._pending = b""
        self.url = f"ethernet://127.0.0.1:{device_port}"

    def write(self, data: bytes) -> None:
        for at in range(0, len(data), MAX_CHUNK):
            try:
                self._sock.sendto(frame(data[at:at + MAX_CHUNK]), self._device)
            except ConnectionRefusedError:
                pass  # QEMU not listening yet: the frame is lost, as on a cable
            except OSError as exc:
                raise LinkError(f"send to {self.url} failed: {exc}") from None

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self._pending:
            ready, _, _ = select.select([self._sock], [], [], max(timeout, 0.0))
            if ready:
                self._receive()
        out, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return out

    def _receive(self) -> None:
        while True:
            try:
                datagram = self._sock.recv(2048)
            except (BlockingIOError, ConnectionRefusedError):
                return  # drained; or the ICMP echo of a frame sent before QEMU listened
            except OSError as exc:
                raise LinkError(f"receive from {self.url} failed: {exc}") from None
            chunk = chunk_of(datagram)
            if chunk:
                self._pending += chunk

    def close(self) -> None:
        self._sock.close()
