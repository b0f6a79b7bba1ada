"""Protocol test vectors: packets and their exact frames, and request/answer pairs.

``python -m qhil.link.vectors`` regenerates ``tests/vectors/protocol/``:

- ``v1.json``: ``frames`` (packet hex -> frame hex, COBS + delimiter) and ``exchanges``
  (request frame -> the device's exact answer frame, for answers that do not depend on
  the board: errors, RESET)
- ``v1.txt``: the same frames as ``<packet hex> <frame hex>`` lines for the C test
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

from qhil.link.framing import ErrorCode, MsgType, Packet, encode_frame

__all__ = ["generate", "VECTOR_DIR"]

VECTOR_DIR = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "protocol"


def _frames() -> list[Packet]:
    return [
        Packet(MsgType.HELLO, 1),
        Packet(MsgType.INFER, 0x1234, struct.pack("<3h", 127, 0, -127)),
        Packet(MsgType.LOAD_CHUNK, 2, struct.pack("<I", 0) + bytes(range(256)) * 2),
        Packet(MsgType.LOAD_BEGIN, 0xFFFF, struct.pack("<I", 0)),  # zeros everywhere
        Packet(MsgType.BENCH | 0x80, 7, bytes(300)),  # a long run of zeros
        Packet(MsgType.ERROR, 9, bytes([ErrorCode.UNKNOWN_TYPE, 0x42, 0x42, 0])),
    ]


def _error(seq: int, code: int, request_type: int, detail: int) -> Packet:
    return Packet(MsgType.ERROR, seq, struct.pack("<BBH", code, request_type, detail))


def _exchanges() -> list[tuple[Packet | bytes, Packet]]:
    """Requests (packets, or raw frames) and the answer every device gives to them. RESET's
    answer is followed by the device's "ready" announcement (board-dependent payload)."""
    return [
        (Packet(0x42, 9), _error(9, ErrorCode.UNKNOWN_TYPE, 0x42, 0x42)),
        (Packet(MsgType.LOAD_CHUNK, 10, b"\0\0\0\0ab"), _error(10, ErrorCode.BAD_STATE, 3, 0)),
        (Packet(MsgType.LOAD_BEGIN, 11, b"\x01"), _error(11, ErrorCode.BAD_PAYLOAD, 2, 4)),
        (Packet(MsgType.HELLO, 12, version=2), _error(12, ErrorCode.BAD_VERSION, 1, 2)),
        (Packet(MsgType.RESET, 13), Packet(MsgType.RESET | 0x80, 13)),
        (Packet(MsgType.INFER, 14, b"\0\0"), _error(14, ErrorCode.NO_MODEL, 5, 0)),
        (Packet(MsgType.HELLO, 15, b"x"), _error(15, ErrorCode.BAD_PAYLOAD, 1, 0)),
        (Packet(MsgType.STATS, 16, b"x"), _error(16, ErrorCode.BAD_PAYLOAD, 8, 0)),
        (Packet(MsgType.LOAD_BEGIN, 17, b"\0\0\0\0"), _error(17, ErrorCode.TOO_LARGE, 2, 0)),
        (Packet(MsgType.BENCH, 18, b"\0\0"), _error(18, ErrorCode.BAD_PAYLOAD, 6, 1000)),
        (Packet(MsgType.LOAD_END, 19), _error(19, ErrorCode.BAD_STATE, 4, 0)),
        # a payload one byte over the maximum (1024 on these targets): OVERFLOW, detail 1024
        (_oversized(20, 1025), _error(20, ErrorCode.OVERFLOW, 5, 1024)),
        # LOAD_BEGIN's flags: a bit that is not defined (bit 0 widen, bit 1 compact are),
        # and both defined bits at once
        (Packet(MsgType.LOAD_BEGIN, 21, b"\x40\0\0\0\x04\0\0\0"),
         _error(21, ErrorCode.BAD_PAYLOAD, 2, 8)),
        (Packet(MsgType.LOAD_BEGIN, 22, b"\x40\0\0\0\x03\0\0\0"),
         _error(22, ErrorCode.BAD_PAYLOAD, 2, 8)),
    ]


def _oversized(seq: int, length: int) -> bytes:
    """An INFER frame with a payload longer than any device accepts (the codec refuses to
    build it, so it is assembled by hand)."""
    from qhil.link.framing import cobs_encode

    body = struct.pack("<BBHH", 1, MsgType.INFER, seq, length) + bytes([1]) * length
    return cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\0"


def generate(out: Path = VECTOR_DIR) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    frames = [{"type": p.type, "seq": p.seq, "packet": p.encode().hex(),
               "frame": encode_frame(p).hex()} for p in _frames()]
    exchanges = [{"request": encode_frame(req).hex() if isinstance(req, Packet) else req.hex(),
                  "answer": encode_frame(ans).hex()} for req, ans in _exchanges()]
    data = {"version": 1, "frames": frames, "exchanges": exchanges}
    (out / "v1.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "v1.txt").write_text("".join(f"{f['packet']} {f['frame']}\n" for f in frames))
    return data


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else VECTOR_DIR
    generate(target)
    print(f"wrote {target}")
