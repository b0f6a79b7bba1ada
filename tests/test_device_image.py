"""Device images (docs/model-format.md#device-images): what LOAD sends, the same model in
fewer bytes, read alike by the host reader and the firmware loader."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from qhil.common.errors import ModelFormatError
from qhil.quant.blob import device_blob, full_table, half_table, read_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.layout import KernelOrder
from qhil.quant.qmodel import QuantModel
from qhil.quant.random_model import random_input_codes, random_quant_model, random_tflite_model
from tests_support import loader_verdicts, tiny_float_actor


def _recrc(data: bytearray) -> bytes:
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])))
    return bytes(data)


def _models() -> list[QuantModel]:
    rng = np.random.default_rng(11)
    return [random_quant_model(rng, [3, 64, 64, 1], parse_bits("int8", 3)),
            random_quant_model(rng, [17, 64, 64, 6], parse_bits("w4a4", 3)),
            random_quant_model(rng, [5, 9, 2], parse_bits("w=2 a=2 in=6 out=4", 2)),
            random_quant_model(rng, [7, 12, 3], parse_bits("w3a3i10", 2), "clip"),
            random_tflite_model(rng, [6, 16, 2], "it", 0.1, 0.25)]


def test_a_device_image_is_the_same_model_in_fewer_bytes() -> None:
    for model in _models():
        full = write_blob(model, meta={"note": "x" * 100})
        image = device_blob(full, KernelOrder.ROWS)
        assert image[4] == 4 and len(image) < len(full) - 100
        assert struct.unpack_from("<4I", image, 32) == (0, 0, 0, 0)  # host, metadata
        back = read_blob(image, device_image=True)
        assert isinstance(back, QuantModel)
        x = random_input_codes(np.random.default_rng(2), model, 200)
        np.testing.assert_array_equal(GoldenExecutor(back).action_codes(x),
                                      GoldenExecutor(model).action_codes(x))
        assert device_blob(image, KernelOrder.ROWS) == image  # idempotent
        assert image[18] == (1 if model.output == "tanh" else 0)


def test_an_odd_table_halves_and_comes_back() -> None:
    int8 = _models()[0]
    assert int8.lut is not None
    half = half_table(int8.lut)
    assert half is not None and half.size == 129
    np.testing.assert_array_equal(full_table(half), int8.lut)
    image = write_blob(int8, device=True)
    assert len(write_blob(int8)) - len(image) > 252 + 4 * (2 * 3 + 1 + 2)  # + metadata
    skewed = int8.lut.copy()
    skewed[10] += 1  # no longer odd: written whole
    assert half_table(skewed) is None
    int8.lut = skewed
    image = write_blob(int8, device=True)
    assert image[18] == 0
    np.testing.assert_array_equal(read_blob(image, device_image=True).lut, skewed)


def test_the_host_refuses_to_run_a_device_image() -> None:
    image = write_blob(_models()[0], device=True)
    with pytest.raises(ModelFormatError, match="a device image .* use the blob it was made from"):
        read_blob(image)


def test_float32_device_image() -> None:
    actor = tiny_float_actor()
    image = device_blob(write_blob(actor, env_id="x"), KernelOrder.ROWS)
    back = read_blob(image, device_image=True)
    for a, b in zip(back.weights, actor.weights, strict=True):
        np.testing.assert_array_equal(a, b)


def _broken_images() -> dict[str, tuple[bytes, int]]:
    """Device images that break one rule each, with the loader's model error."""
    int8, clip_model = _models()[0], _models()[3]
    image = write_blob(int8, device=True)
    cases: dict[str, tuple[bytes, int]] = {}
    data = bytearray(image)
    data[18] = 0x03
    cases["undefined flag bit"] = (_recrc(data), 5)
    data = bytearray(write_blob(clip_model, device=True))
    data[18] = 0x01
    cases["half table without a table"] = (_recrc(data), 5)
    data = bytearray(image)
    data[4] = 3
    cases["flags before version 4"] = (_recrc(data), 5)
    data = bytearray(write_blob(clip_model))
    data[32:40] = bytes(8)
    cases["no host section before version 4"] = (_recrc(data), 8)
    data = bytearray(write_blob(clip_model))
    data[40:48] = bytes(8)
    cases["no metadata before version 4"] = (_recrc(data), 8)
    data = bytearray(image)
    data[36:40] = struct.pack("<I", 4)  # host_off 0, host_size 4: not the absent pair
    cases["half-absent host section"] = (_recrc(data), 8)
    lut_off = struct.unpack_from("<I", image, 28)[0]
    data = bytearray(image)
    struct.pack_into("<h", data, lut_off + 2 * 128, -32768)  # the entry of -128: outside +-32767
    cases["half table entry outside the action code range"] = (_recrc(data), 13)
    data = bytearray(image)
    data[8:12] = struct.pack("<I", len(image) - 4)  # the last 4-byte word of the table gone
    cases["half table cut short"] = (_recrc(data[:-8] + data[-4:]), 8)
    return cases


def test_loader_and_reader_agree_on_device_images(tmp_path: Path) -> None:
    good = [write_blob(m, device=True) for m in _models()]
    good.append(write_blob(tiny_float_actor(), device=True))
    broken = _broken_images()
    verdicts = loader_verdicts(good + [b for b, _ in broken.values()], tmp_path)
    for data, verdict in zip(good, verdicts, strict=False):
        model = read_blob(data, device_image=True)
        layers = model.layers if isinstance(model, QuantModel) else model.weights
        assert verdict == (0, 0 if isinstance(model, QuantModel) else 1, len(layers),
                           model.obs_dim, model.action_dim)
    for (name, (data, code)), verdict in zip(broken.items(), verdicts[len(good):], strict=True):
        assert verdict == (code,), name
        with pytest.raises(ModelFormatError):
            read_blob(data, device_image=True)
