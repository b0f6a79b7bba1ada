"""The Ethernet link of the emulated MPS2 boards (docs/protocol.md#ethernet-link): frame
layout on the host side, and the real firmware behind QEMU's LAN9118 on a UDP socket."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qhil.common.errors import ConfigError
from qhil.link.ethernet import ETHERTYPE, MAX_CHUNK, chunk_of, frame
from qhil.link.framing import MsgType, Packet, decode_frame, encode_frame
from qhil.quant.blob import write_blob
from qhil.quant.config import parse_bits
from qhil.quant.random_model import random_quant_model
from qhil.targets import EmulatorLink, start_target

ROOT = Path(__file__).resolve().parents[1]


def test_frames_pad_to_the_ethernet_minimum_and_carry_a_byte_count() -> None:
    f = frame(b"abc")
    assert len(f) == 60 and f[:6] == b"\xff" * 6
    assert struct.unpack(">H", f[12:14])[0] == ETHERTYPE and f[14:16] == b"\x03\x00"
    assert chunk_of(f) == b"abc"
    big = bytes(range(256)) * 5 + b"xy"
    assert chunk_of(frame(big[:MAX_CHUNK])) == big[:MAX_CHUNK]
    with pytest.raises(ValueError):
        frame(b"\x01" * (MAX_CHUNK + 1))


def test_frames_that_are_not_ours_are_dropped() -> None:
    other = frame(b"abc")[:12] + b"\x08\x00" + frame(b"abc")[14:]
    assert chunk_of(other) is None  # IPv4
    lying = frame(b"abc")[:14] + struct.pack("<H", 100) + b"abc"
    assert chunk_of(lying) is None  # counts more bytes than it carries
    assert chunk_of(b"\x00" * 10) is None


def test_requests_split_across_frames_and_junk_frames_on_the_device() -> None:
    """qemu-m4 over Ethernet: a request cut in two frames is answered; a frame of another
    EtherType, one that lies about its length, one addressed to another station and one
    with more than 1498 stream bytes are dropped whole, and the stream goes on; the
    answers come back over the same link."""
    with start_target("qemu-m4", link=EmulatorLink.ETHERNET) as running:
        assert running.link is EmulatorLink.ETHERNET
        dev = running.device
        transport = dev.transport
        sock, device = transport._sock, transport._device  # type: ignore[attr-defined]
        hello = encode_frame(Packet(MsgType.HELLO, 777, b""))
        # whole requests the device must drop unanswered: one addressed to another
        # station, one whose stream byte count is 1499 (the limit is 1498)
        elsewhere = encode_frame(Packet(MsgType.HELLO, 555, b""))
        sock.sendto(bytes.fromhex("025148490000") + frame(elsewhere)[6:], device)
        too_long = encode_frame(Packet(MsgType.HELLO, 556, b"")).ljust(MAX_CHUNK + 1, b"\0")
        sock.sendto(frame(b"")[:14] + struct.pack("<H", MAX_CHUNK + 1) + too_long, device)
        sock.sendto(frame(hello[:5]), device)
        sock.sendto(frame(b"\x00\x00")[:12] + b"\x08\x00" + b"junk" * 20, device)
        sock.sendto(frame(b"")[:14] + struct.pack("<H", 500) + b"\x00" * 50, device)
        sock.sendto(frame(hello[5:]), device)
        deadline = time.monotonic() + 5
        got = b""
        while not got.endswith(b"\x00") and time.monotonic() < deadline:
            got += transport.read(4096, 0.2)
        answer = decode_frame(got[:-1])
        assert answer.seq == 777 and answer.type == MsgType.HELLO | 0x80
        assert dev.hello().board == "mps2_an386"
        x = np.zeros(3, dtype=np.int64)
        dev.load(write_blob(random_quant_model(np.random.default_rng(0), [3, 8, 1],
                                               parse_bits("int8", 2))))
        assert dev.infer(x)[0].shape == (1,)


def test_a_target_without_the_link_is_refused(tmp_path: Path) -> None:
    """Before anything is loaded or started: one line, exit 2."""
    with pytest.raises(ConfigError, match="qemu-m0 has no ethernet link"):
        start_target("qemu-m0", link=EmulatorLink.ETHERNET)
    for target, link, needle in (("qemu-m0", "ethernet", "qemu-m0 has no ethernet link"),
                                 ("qemu-m4", "wifi", "unknown link 'wifi'")):
        out = subprocess.run([sys.executable, "-m", "qhil.cli.main", "bench", "--target",
                              target, "--link", link, "--model", str(ROOT / "models" /
                                                                     "Pendulum-v1"),
                              "-o", str(tmp_path / "never")], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().count("\n") == 0 and needle in out.stderr, out.stderr
        assert not (tmp_path / "never").exists()
