"""Packets and COBS frames of docs/protocol.md (the host twin of firmware/src/proto)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

from qhil.common.errors import LinkError

__all__ = ["MsgType", "ErrorCode", "Packet", "LoadPrep", "cobs_encode", "cobs_decode",
           "encode_frame", "decode_frame", "PROTOCOL_VERSION", "MAX_PAYLOAD"]

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 1024
_HEADER = struct.Struct("<BBHH")


class LoadPrep(IntEnum):
    """What the kernel may make at load (LOAD_BEGIN's flags): ``STORED`` reads the weights
    where the blob keeps them and keeps what speeds it up where it fits (starting sums,
    requantization records); ``WIDEN`` may also copy the weights into a wider, faster form;
    ``COMPACT`` keeps nothing, the arena holds the blob alone."""

    STORED = 0
    WIDEN = 1
    COMPACT = 2


class MsgType(IntEnum):
    HELLO = 0x01
    LOAD_BEGIN = 0x02
    LOAD_CHUNK = 0x03
    LOAD_END = 0x04
    INFER = 0x05
    BENCH = 0x06
    RESET = 0x07
    STATS = 0x08
    LAYERS = 0x09
    ERROR = 0xFF


class ErrorCode(IntEnum):
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_TYPE = 3
    BAD_VERSION = 4
    TOO_LARGE = 5
    BAD_MODEL = 6
    NO_MODEL = 7
    BAD_STATE = 8
    BAD_INPUT = 9
    OVERFLOW = 10
    BAD_OFFSET = 11
    BAD_PAYLOAD = 12
    BAD_FRAME = 13


MODEL_ERRORS = {1: "magic", 2: "version", 3: "size", 4: "CRC", 5: "header field",
                6: "layer shape", 7: "layer widths", 8: "section bounds or alignment",
                9: "weight code (or a NaN/inf float32 parameter)", 10: "padding", 11: "multiplier or shift",
                12: "accumulator bound", 13: "tanh table", 14: "unsupported kind"}


@dataclass(frozen=True)
class Packet:
    type: int
    seq: int
    payload: bytes = b""
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        if len(self.payload) > MAX_PAYLOAD:
            raise LinkError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")
        body = _HEADER.pack(self.version, self.type, self.seq & 0xFFFF, len(self.payload))
        body += self.payload
        return body + struct.pack("<I", zlib.crc32(body))


def cobs_encode(data: bytes) -> bytes:
    out = bytearray([0])
    code_at, code = 0, 1
    for byte in data:
        if byte == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
        else:
            out.append(byte)
            code += 1
            if code == 0xFF:
                out[code_at] = code
                code_at, code = len(out), 1
                out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        i += 1
        if code == 0 or i + code - 1 > len(data):
            raise LinkError("malformed COBS frame")
        block = data[i : i + code - 1]
        if 0 in block:
            raise LinkError("malformed COBS frame")
        out += block
        i += code - 1
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(packet: Packet) -> bytes:
    """The bytes on the wire: COBS(packet) + 0x00."""
    return cobs_encode(packet.encode()) + b"\0"


def decode_frame(frame: bytes) -> Packet:
    """Parse a frame without its delimiter; raises :class:`LinkError` when it is corrupt."""
    raw = cobs_decode(frame)
    if len(raw) < 10:
        raise LinkError(f"packet of {len(raw)} bytes is too short")
    version, type_, seq, length = _HEADER.unpack_from(raw)
    if length + 10 != len(raw):
        raise LinkError(f"packet length field {length} does not match {len(raw) - 10}")
    (crc,) = struct.unpack_from("<I", raw, len(raw) - 4)
    if crc != zlib.crc32(raw[:-4]):
        raise LinkError("packet CRC mismatch")
    return Packet(type_, seq, raw[6:-4], version)
