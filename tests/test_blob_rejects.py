"""Every malformed blob is rejected with a precise error (docs/model-format.md)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qhil.common.errors import ModelFormatError
from qhil.quant.blob import HEADER_SIZE, MAX_BLOB_SIZE, read_blob, relayout_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.layout import KernelOrder, WeightLayout
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


@pytest.mark.parametrize("version", [0, 5, 0xFFFF])
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


# Weight layouts (format version 3, docs/model-format.md#layouts).

@pytest.fixture(scope="module")
def blocked() -> bytes:
    """An 8-bit [5, 7, 3] model in the DSP order: inputs padded to 8, rows to 8 and 4."""
    model = random_quant_model(np.random.default_rng(3), [5, 7, 3], parse_bits("int8", 2))
    return write_blob(model, order=KernelOrder.DSP)


@given(st.integers(0, 10_000), st.sampled_from(["int8", "w4a4", "w3a3", "w2a2", "w6a6"]))
@settings(max_examples=30, deadline=None)
def test_every_width_round_trips_in_the_kernel_order(seed, bits) -> None:
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 20)), int(rng.integers(1, 40)), int(rng.integers(1, 9))]
    model = random_quant_model(rng, sizes, parse_bits(bits, 2))
    data = write_blob(model, order=KernelOrder.DSP)
    blocked = bits in ("int8", "w4a4", "w2a2")
    assert data[4] == (3 if blocked else 1)  # the oldest version that holds it
    assert data == write_blob(model) if not blocked else len(data) >= len(write_blob(model))
    back = read_blob(data)
    for a, b in zip(model.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
    assert relayout_blob(data, KernelOrder.ROWS) == write_blob(back)


def test_blocked_layout_is_the_documented_example() -> None:
    """model-format.md's example: 8-bit, 3 inputs, 5 outputs, 0x22: 32 bytes, row r's
    codes at bytes 4r..4r+2, then a zero; rows 5..7 zero."""
    w = np.arange(1, 16, dtype=np.int8).reshape(5, 3)
    data = WeightLayout(4, 4).pack(w, 8)
    assert WeightLayout(4, 4).code == 0x22 and WeightLayout(2, 8).code == 0x13
    expected = bytes(sum(([*row, 0] for row in w.tolist()), []) + [0] * 12)
    assert data == expected


def _with_layout_byte(blob: bytes, layer: int, value: int) -> bytes:
    data = bytearray(blob)
    data[48 + layer] = value
    return _recrc(data)


@pytest.mark.parametrize(("layer", "value", "message"), [
    (0, 0x42, "layout byte 0x42 is not defined"),
    (0, 0x21, "layout byte 0x21 is not defined"),
    (0, 0x11, "layout byte 0x11 is not defined"),
    (2, 0x22, "layout bytes of layers past the 2"),
])
def test_undefined_layout_bytes_are_refused(blocked, layer, value, message) -> None:
    with pytest.raises(ModelFormatError, match=message):
        read_blob(_with_layout_byte(blocked, layer, value))


def test_a_group_must_be_whole_words(blocked) -> None:
    # 0x12: 2 rows x 4 codes; at 4 bits a group is half a word. At 8 bits it is a whole
    # word, and a blob written in 4 x 4 then reads as 2 x 4 with codes where padding is
    model = random_quant_model(np.random.default_rng(3), [5, 7, 3], parse_bits("w4a4", 2))
    data = bytearray(write_blob(model, order=KernelOrder.DSP))
    data[48] = 0x12
    with pytest.raises(ModelFormatError, match="not whole 32-bit words"):
        read_blob(_recrc(data))
    with pytest.raises(ModelFormatError, match="non-zero padding codes"):
        read_blob(_with_layout_byte(blocked, 0, 0x12))


def test_layout_bytes_need_version_3(blocked) -> None:
    plain = write_blob(random_quant_model(np.random.default_rng(3), [5, 7, 3],
                                          parse_bits("int8", 2)))
    with pytest.raises(ModelFormatError, match="need version 3"):
        read_blob(_with_layout_byte(plain, 0, 0x22))


def test_a_nonzero_padding_code_is_refused(blocked) -> None:
    # layer 0 (5 inputs, 7 rows) in 4 x 4 blocks: bytes 16..31 are block 0's group 1 (rows
    # 0..3, four codes each): byte 16 is row 0's input 4, byte 17 its first padding input
    w_off = struct.unpack_from("<I", blocked, HEADER_SIZE + 8)[0]
    data = bytearray(blocked)
    data[w_off + 17] = 1
    with pytest.raises(ModelFormatError, match="non-zero padding codes"):
        read_blob(_recrc(data))
    data = bytearray(blocked)
    last = w_off + struct.unpack_from("<I", blocked, HEADER_SIZE + 12)[0] - 1  # row 7: padding
    data[last] = 1
    with pytest.raises(ModelFormatError, match="non-zero padding codes"):
        read_blob(_recrc(data))


def _patch_host(blob: bytes, index: int, value: float) -> bytes:
    """Float ``index`` of the host section set to ``value`` (CRC fixed)."""
    host_off = struct.unpack_from("<I", blob, 32)[0]
    data = bytearray(blob)
    struct.pack_into("<f", data, host_off + 4 * index, value)
    return _recrc(data)


@pytest.mark.parametrize(("index", "value", "message"), [
    (0, float("nan"), "input centres must be finite"),
    (5, 0.0, "input steps must be finite and positive"),
    (5, float("inf"), "input steps must be finite and positive"),
    (10, 0.0, "output scale must be finite and positive"),
    (10, -1.0, "output scale must be finite and positive"),
    (11, 5.0, "action bounds must be finite with high > low"),  # low above high
    (14, float("inf"), "action bounds must be finite with high > low"),
])
def test_host_section_values_are_checked_with_their_own_message(blob, index, value,
                                                                  message) -> None:
    """docs/model-format.md#host-section-values: obs_dim 5, act_dim 3, so the section is
    centre[0..4], step[5..9], out_scale[10], low[11..13], high[14..16]."""
    with pytest.raises(ModelFormatError, match=message):
        read_blob(_patch_host(blob, index, value))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize(("index", "message"), [
    (0, "input centres must be finite"),
    (5, "input steps must be finite and positive"),
    (10, "output scale must be finite and positive"),
    (12, "action bounds must be finite with high > low"),
])
def test_a_signalling_nan_in_the_host_section_is_one_clean_refusal(blob, index,
                                                                     message) -> None:
    """Widening a signalling NaN (exponent all ones, quiet bit clear) raises numpy's
    'invalid value' warning; the reader refuses the value, and says nothing else."""
    host_off = struct.unpack_from("<I", blob, 32)[0]
    data = bytearray(blob)
    struct.pack_into("<I", data, host_off + 4 * index, 0x7F800001)
    with pytest.raises(ModelFormatError, match=message):
        read_blob(_recrc(data))


@pytest.mark.parametrize(("index", "value", "message"), [
    (0, float("nan"), "observation mean must be finite"),
    (2, 0.0, "observation std must be finite and positive"),
    (4, float("nan"), "observation clip must be positive"),
    (4, 0.0, "observation clip must be positive"),
])
def test_float32_host_section_values_are_checked(index, value, message) -> None:
    from tests_support import tiny_float_actor

    actor = tiny_float_actor((2, 4, 1))
    data = write_blob(actor, env_id="Pendulum-v1")
    with pytest.raises(ModelFormatError, match=message):
        read_blob(_patch_host(data, index, value))


def test_metadata_needs_only_to_be_an_object() -> None:
    """A reader accepts {} (no env_id): docs/model-format.md#sections."""
    model = random_quant_model(np.random.default_rng(3), [2, 4, 1], parse_bits("int8", 2))
    data = bytearray(write_blob(model))
    meta_off, meta_size = struct.unpack_from("<II", data, 40)
    data[meta_off:meta_off + meta_size] = b"{}".ljust(meta_size, b" ")
    assert read_blob(_recrc(data)).env_id == ""
