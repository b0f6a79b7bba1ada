"""Protocol vectors (tests/vectors/protocol) hold for the host codec, the C codec and a device."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qhil.common.errors import LinkError
from qhil.link.framing import MsgType, Packet, cobs_decode, cobs_encode, decode_frame, encode_frame
from qhil.link.vectors import VECTOR_DIR, generate
from qhil.targets import start_target
from qhil.targets.firmware import FIRMWARE_DIR

VECTORS = json.loads((VECTOR_DIR / "v1.json").read_text())


def test_host_codec_matches_vectors() -> None:
    for case in VECTORS["frames"]:
        packet = bytes.fromhex(case["packet"])
        frame = bytes.fromhex(case["frame"])
        assert cobs_encode(packet) + b"\0" == frame
        decoded = decode_frame(frame[:-1])
        assert decoded.encode() == packet and decoded.seq == case["seq"]


def test_vectors_are_current(tmp_path: Path) -> None:
    assert generate(tmp_path) == VECTORS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_cobs_round_trip_never_emits_zero(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded and cobs_decode(encoded) == data


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=1024), st.data())
def test_corrupted_frames_are_detected(type_, seq, payload, data) -> None:
    frame = bytearray(encode_frame(Packet(type_, seq, payload))[:-1])
    i = data.draw(st.integers(0, len(frame) - 1))
    # a different non-zero byte (0 is the delimiter, and an equal byte corrupts nothing)
    frame[i] = data.draw(st.integers(1, 255).filter(lambda v: v != frame[i]))
    # Every single-byte change is an error: in a data byte CRC-32 catches it always; in a
    # COBS code byte it moves zeros or breaks the framing, and CRC-32 misses a multi-byte
    # change with probability 2**-32 only. A frame that decodes anyway must fail here.
    with pytest.raises(LinkError):
        decode_frame(bytes(frame))


def test_c_codec_matches_vectors(tmp_path: Path) -> None:
    exe = tmp_path / "test_frames"
    src = FIRMWARE_DIR
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{src}/include",
                    str(src / "test/test_frames.c"), str(src / "src/proto/qhil_cobs.c"),
                    str(src / "src/runtime/qhil_crc32.c"), "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe), str(VECTOR_DIR / "v1.txt")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    assert f"{len(VECTORS['frames'])} frames, 0 failures" in proc.stdout


@pytest.mark.parametrize("target_name", ["native", "qemu-m4"])
def test_device_answers_are_byte_exact(target_name: str) -> None:
    with start_target(target_name) as target:
        dev = target.device
        for case in VECTORS["exchanges"]:
            dev._rx.clear()
            dev.transport.write(bytes.fromhex(case["request"]))
            deadline = time.monotonic() + 2.0
            frame = dev._next_frame(deadline)
            assert frame is not None
            assert frame + b"\0" == bytes.fromhex(case["answer"])
            request = bytes.fromhex(case["request"])
            if len(request) < 1100 and decode_frame(request[:-1]).type == MsgType.RESET:
                # nothing may be sent until the device says it is ready again
                ready = dev._next_frame(time.monotonic() + 10.0)
                assert ready is not None
                announcement = decode_frame(ready)
                assert (announcement.type, announcement.seq) == (MsgType.HELLO | 0x80, 0)


def test_the_qemu_command_lines_in_the_protocol_doc_are_the_hosts() -> None:
    """docs/protocol.md gives each emulated target's whole QEMU command; it must be the one
    the host runs (an outsider starts QEMU from the doc alone)."""
    import re

    from qhil.targets import TARGETS, EmulatorLink
    from qhil.targets.drivers import qemu_command

    doc = (FIRMWARE_DIR.parent / "docs" / "protocol.md").read_text()
    documented = dict(re.findall(r"- `([\w-]+)` \(firmware `[^`]+`, its UART: [^\n]+\n\s+`([^`]+)`",
                                 doc))
    emulated = [t for t in TARGETS.values() if t.links]  # the targets QEMU runs here
    assert set(documented) == {t.name for t in emulated}
    for t in emulated:
        eth = (11111, 22222) if t.links[0] is EmulatorLink.ETHERNET else None
        cmd = qemu_command(t, Path(f"firmware/.pio/build/{t.pio_env}/program.elf"), 33333, eth)
        cmd[0] = Path(cmd[0]).name
        expected = (" ".join(cmd).replace("33333", "PORT").replace("11111", "HOSTUDP")
                    .replace("22222", "DEVUDP"))
        assert documented[t.name] == expected, t.name
