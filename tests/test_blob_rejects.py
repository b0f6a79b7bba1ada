"""Every malformed blob is rejected with a precise error (docs/model-format.md)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qhil.common.errors import ModelFormatError
from qhil.quant.blob import HEADER_SIZE, MAX_BLOB_SIZE, read_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.random_model import random_quant_model


@pytest.fixture(scope="module")
def blob() -> bytes:
    model = random_quant_model(np.random.default_rng(7), [5, 9, 3], parse_bits("w3a4i10", 2))
    return write_blob(model)


def _recrc(data: bytearray) -> bytes:
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])))
    return bytes(data)


def _patch(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(blob)
    struct.pack_into(fmt, data, offset, value)
    return _recrc(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_truncation_is_rejected(blob, data) -> None:
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ModelFormatError, match="too short|truncated|CRC"):
        read_blob(blob[:cut])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_bit_flip_is_rejected(blob, data) -> None:
    bit = data.draw(st.integers(0, 8 * len(blob) - 1))
    flipped = bytearray(blob)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ModelFormatError):
        read_blob(bytes(flipped))


@pytest.mark.parametrize("version", [0, 3, 0xFFFF])
def test_wrong_version(blob, version) -> None:
    with pytest.raises(ModelFormatError, match=f"format version {version} is not supported"):
        read_blob(_patch(blob, 4, "<H", version))


def test_version_2_reads_a_version_1_layout(blob) -> None:
    """Version 2 only widens what a layer record may say: a v1 blob relabelled v2 is the
    same model."""
    v1, v2 = read_blob(blob), read_blob(_patch(blob, 4, "<H", 2))
    assert [la.act for la in v1.layers] == [la.act for la in v2.layers]


def test_bad_magic(blob) -> None:
    with pytest.raises(ModelFormatError, match="bad magic"):
        read_blob(b"XHIL" + blob[4:])


def test_crc_mismatch_names_both_values(blob) -> None:
    data = bytearray(blob)
    data[HEADER_SIZE + 40] ^= 0xFF
    with pytest.raises(ModelFormatError, match="CRC32 mismatch"):
        read_blob(bytes(data))


def test_oversized(blob) -> None:
    with pytest.raises(ModelFormatError, match="exceeds"):
        read_blob(blob + b"\0" * MAX_BLOB_SIZE)


def test_trailing_garbage(blob) -> None:
    with pytest.raises(ModelFormatError, match="truncated or padded"):
        read_blob(blob + b"\0\0\0\0")


@pytest.mark.parametrize(("offset", "fmt", "value", "message"), [
    (12, "<B", 7, "unknown model kind"),
    (13, "<B", 0, "layers; 1..8"),
    (13, "<B", 9, "layers; 1..8"),
    (14, "<B", 1, "input/output widths"),
    (15, "<B", 3, "unknown output kind"),
    (17, "<B", 1, "reserved header bytes"),
    (20, "<H", 0, "observation/action sizes"),
    (22, "<H", 4, "header says 4 actions"),
    (24, "<I", 68, "layer table at 68"),
    (32, "<I", 66, "not 4-byte aligned"),
    (36, "<I", 12, "host section is 12 bytes"),
    (40, "<I", 1 << 20, "outside the blob body"),
    (HEADER_SIZE + 4, "<B", 9, "widths w=9"),
    (HEADER_SIZE + 6, "<B", 1, "activation 1"),
    (HEADER_SIZE + 12, "<I", 7, "weights are 7 bytes"),
    (HEADER_SIZE + 0, "<H", 6, "does not follow width 5"),
])
def test_field_errors(blob, offset, fmt, value, message) -> None:
    with pytest.raises(ModelFormatError, match=message):
        read_blob(_patch(blob, offset, fmt, value))


def test_weight_code_outside_symmetric_range(blob) -> None:
    # 3-bit code 0b100 (-4) is outside [-3, 3]; first weight of layer 0.
    w_off = struct.unpack_from("<I", blob, HEADER_SIZE + 8)[0]
    data = bytearray(blob)
    data[w_off] = (data[w_off] & ~0b111) | 0b100
    with pytest.raises(ModelFormatError, match="outside the symmetric range"):
        read_blob(_recrc(data))


def test_multiplier_out_of_range(blob) -> None:
    m_off = struct.unpack_from("<I", blob, HEADER_SIZE + 20)[0]
    with pytest.raises(ModelFormatError, match="multiplier outside"):
        read_blob(_patch(blob, m_off, "<i", 5))


def test_accumulator_overflow_is_refused(blob) -> None:
    b_off = struct.unpack_from("<I", blob, HEADER_SIZE + 16)[0]
    with pytest.raises(ModelFormatError, match="overflows int32"):
        read_blob(_patch(blob, b_off, "<i", 2**31 - 10))


def test_metadata_not_json(blob) -> None:
    meta_off, meta_size = struct.unpack_from("<II", blob, 40)
    data = bytearray(blob)
    data[meta_off : meta_off + 2] = b"\xff\xfe"
    with pytest.raises(ModelFormatError, match="metadata is not UTF-8 JSON"):
        read_blob(_recrc(data))


def test_error_names_the_source(blob) -> None:
    with pytest.raises(ModelFormatError, match=r"^pol\.qhil: "):
        read_blob(blob[:10], source="pol.qhil")
