"""The ``.qhil`` binary model format, versions 1 to 4 (``docs/model-format.md`` is normative).

Version 2 adds per-layer activations (tanh hidden layers with their tables, identity);
version 3 weights stored in a kernel's order (:mod:`qhil.quant.layout`); version 4 the
tflite arithmetic (zero points, TFLM's requantization, a clamp per layer). A blob is
written in the oldest version that holds it: all-ReLU models in plain rows stay version 1,
byte for byte as before.

A little-endian blob: a 64-byte header, a table of 32-byte layer records, 4-byte aligned
sections (packed weights, int32 biases, multipliers and shifts, the tanh table, the
host section, UTF-8 JSON metadata) and a CRC32 of everything before it in the last four
bytes. Integer blobs hold a :class:`QuantModel`; float32 blobs hold a :class:`FloatActor`
(the on-device float baseline). The reader checks every field and names what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from qhil import __version__
from qhil.common.actor import Activation, FloatActor
from qhil.common.errors import ModelFormatError
from qhil.quant.layout import KernelOrder, WeightLayout
from qhil.quant.qmodel import (
    LUT_BITS_MAX,
    LUT_BITS_MIN,
    MAX_LAYERS,
    Arithmetic,
    QuantLayer,
    QuantModel,
)

__all__ = ["write_blob", "read_blob", "load_blob", "blob_id", "relayout_blob", "device_blob",
           "blob_layouts",
           "blob_meta", "BlobInfo", "FORMAT_VERSION", "MAGIC", "HEADER_SIZE", "LAYER_RECORD_SIZE",
           "MAX_BLOB_SIZE", "KIND_INT", "KIND_F32"]

MAGIC = b"QHIL"
#: The newest version this module writes and reads; it still reads every older one.
FORMAT_VERSION = 4
HEADER_SIZE = 64
LAYER_RECORD_SIZE = 32
MAX_BLOB_SIZE = 1 << 20
MAX_DIM = 1024
KIND_INT, KIND_F32 = 0, 1
OUT_TANH, OUT_LINEAR = 0, 1
#: The layer record's ``act`` byte.
ACT_CODES = {Activation.RELU: 0, Activation.IDENTITY: 1, Activation.TANH: 2}
ACT_OF_CODE = {code: act for act, code in ACT_CODES.items()}
F32_WIDTH = 32
#: The header's ``arithmetic`` byte (version 4).
ARITH_CODES: dict[Arithmetic, int] = {"qhil": 0, "tflite": 1}
ARITH_OF_CODE: dict[int, Arithmetic] = {code: name for name, code in ARITH_CODES.items()}
#: A tflite model's host section: action mapping codes.
ACTION_MAPS: dict[str, float] = {"clip": 0.0, "rescale": 1.0}
#: The header's ``flags`` byte (version 4): the output tanh table stored as its odd half.
FLAG_HALF_TABLE = 0x01


def half_table(lut: np.ndarray) -> np.ndarray | None:
    """The odd half of an output tanh table of ``2^A`` entries (index ``c + 2^(A-1)`` for
    code ``c``): the entries of codes ``0..2^(A-1)-1``, then the one of ``-2^(A-1)``;
    ``None`` when the table is not odd (``entry(-c) != -entry(c)`` for some ``0 < c``)."""
    half = len(lut) // 2
    upper = lut[half:]
    if np.any(lut[1:half][::-1].astype(np.int32) != -upper[1:].astype(np.int32)):
        return None
    return np.concatenate([upper, lut[:1]]).astype(np.int16)


def full_table(half: np.ndarray) -> np.ndarray:
    """The ``2^A`` entries an odd half (:func:`half_table`) stands for."""
    a = len(half) - 1
    upper = half[:a].astype(np.int16)
    return np.concatenate([half[a:], -upper[1:][::-1], upper]).astype(np.int16)


def _version_for(activations: tuple[Activation, ...], layouts: list[WeightLayout],
                 arithmetic: str = "qhil") -> int:
    """The oldest version that holds the blob, so older readers keep reading what they can."""
    if arithmetic != "qhil":
        return 4
    if any(not lay.is_rows for lay in layouts):
        return 3
    return 1 if all(a is Activation.RELU for a in activations) else 2

# magic, version, header_size, total_size, kind, n_layers, in_bits, output, out_bits,
# arithmetic (version 4; reserved before), reserved[2], obs_dim, act_dim, layers_off,
# lut_off, host_off, host_size, meta_off, meta_size, layouts[8] (version 3; reserved
# before), tflite_off (version 4; reserved before), reserved[4]
_HEADER = struct.Struct("<4sHHIBBBBBB2sHHIIIIII8sI4s")
#: A tflite model's per-layer record: output zero point, clamp min, clamp max, reserved.
_TFLITE_LAYER = struct.Struct("<bbbB")
# n_in, n_out, w_bits, out_bits, act, lut_bits, weights_off, weights_size, bias_off,
# mult_off, shift_off, lut_off
_LAYER = struct.Struct("<HHBBBBIIIIII")
assert _HEADER.size == HEADER_SIZE and _LAYER.size == LAYER_RECORD_SIZE


@dataclass(frozen=True)
class BlobInfo:
    """Summary of a blob for listings and reports."""

    kind: str
    n_layers: int
    size: int
    weight_bytes: int
    model_id: int


class _Builder:
    """Appends 4-byte aligned sections and remembers their offsets."""

    def __init__(self, start: int) -> None:
        self.parts: list[bytes] = []
        self.offset = start

    def add(self, data: bytes) -> int:
        off = self.offset
        pad = (-len(data)) % 4
        self.parts.append(data + b"\0" * pad)
        self.offset += len(data) + pad
        return off


def _f32(values: np.ndarray | list[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def _i32(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype="<i4").tobytes()


def write_blob(model: QuantModel | FloatActor, env_id: str | None = None,
               meta: dict[str, object] | None = None,
               order: KernelOrder = KernelOrder.ROWS, device: bool = False,
               pad_free: bool = False) -> bytes:
    """Serialize an integer :class:`QuantModel` or a float32 :class:`FloatActor`.

    :param order: the kernel whose order the integer weights are stored in (version 3 when
        any layer is not in rows); the default, rows, every kernel reads
    :param device: a device image (version 4): what LOAD sends, without the host-only
        sections (host section, metadata) and with an odd output table stored as its half
    :param pad_free: layers whose blocks in ``order`` would pad them stay in rows
        (:meth:`KernelOrder.layout_of`)
    """
    is_int = isinstance(model, QuantModel)
    if isinstance(model, QuantModel):
        model.validate()
        n_layers, obs_dim, act_dim = len(model.layers), model.obs_dim, model.action_dim
    else:
        n_layers, obs_dim, act_dim = len(model.weights), model.obs_dim, model.action_dim
    output = OUT_TANH if model.output == "tanh" else OUT_LINEAR
    if n_layers > MAX_LAYERS:
        raise ModelFormatError(f"{n_layers} layers; the format holds at most {MAX_LAYERS}")
    body = _Builder(HEADER_SIZE + n_layers * LAYER_RECORD_SIZE)
    records = []
    lut_off = tflite_off = flags = 0
    arith: Arithmetic = "qhil"
    layouts: list[WeightLayout] = []
    if isinstance(model, QuantModel):
        for layer in model.layers:
            layout = order.layout_of(layer.w_bits, layer.n_in, layer.n_out, pad_free)
            layouts.append(layout)
            w_off = body.add(layout.pack(layer.weights, layer.w_bits))
            b_off = body.add(_i32(layer.bias))
            m_off = body.add(_i32(layer.mult))
            s_off = body.add(_i32(layer.shift))
            t_off = 0 if layer.lut is None else body.add(np.asarray(layer.lut, "i1").tobytes())
            records.append(_LAYER.pack(layer.n_in, layer.n_out, layer.w_bits, layer.out_bits,
                                       ACT_CODES[layer.act], layer.lut_bits, w_off,
                                       layout.size(layer.n_in, layer.n_out, layer.w_bits), b_off,
                                       m_off, s_off, t_off))
        if model.lut is not None:
            half = half_table(model.lut) if device else None
            flags |= FLAG_HALF_TABLE if half is not None else 0
            table = model.lut if half is None else half
            lut_off = body.add(np.asarray(table, dtype="<i2").tobytes())
        if model.arithmetic == "tflite":
            tflite_off = body.add(b"".join(_TFLITE_LAYER.pack(*layer.clamp, 0)
                                           for layer in model.layers if layer.clamp))
            host = (_f32([model.in_center[0], model.in_step[0], model.out_zero,
                          model.out_scale, ACTION_MAPS[model.output]])
                    + _f32(model.action_low) + _f32(model.action_high))
        else:
            host = (_f32(model.in_center) + _f32(model.in_step) + _f32([model.out_scale])
                    + _f32(model.action_low) + _f32(model.action_high))
        arith = model.arithmetic
        in_bits, out_bits = model.in_bits, model.out_bits
        env = env_id if env_id is not None else model.env_id
        meta_all: dict[str, object] = {"env_id": env, "qhil": __version__, **model.meta}
    else:
        last = len(model.weights) - 1
        for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
            w_off = body.add(_f32(w))
            b_off = body.add(_f32(b))
            act = Activation.IDENTITY if i == last else model.activations[i]
            records.append(_LAYER.pack(w.shape[1], w.shape[0], F32_WIDTH, F32_WIDTH,
                                       ACT_CODES[act], 0, w_off, w.size * 4, b_off, 0, 0, 0))
        clip = model.obs_clip if math.isfinite(model.obs_clip) else float("inf")
        host = (_f32(model.obs_mean) + _f32(model.obs_std) + _f32([clip])
                + _f32(model.action_low) + _f32(model.action_high))
        in_bits = out_bits = F32_WIDTH
        meta_all = {"env_id": env_id or "", "qhil": __version__}
    meta_all.update(meta or {})
    meta_bytes = json.dumps(meta_all, sort_keys=True, separators=(",", ":")).encode()
    if device:
        host = meta_bytes = b""
        host_off = meta_off = 0
    else:
        host_off = body.add(host)
        meta_off = body.add(meta_bytes)
    total = body.offset + 4
    if total > MAX_BLOB_SIZE:
        raise ModelFormatError(f"blob would be {total} bytes; the format allows {MAX_BLOB_SIZE}")
    layout_bytes = bytes(lay.code for lay in layouts).ljust(8, b"\0")
    version = 4 if device else _version_for(model.activations, layouts, arith)
    header = _HEADER.pack(MAGIC, version, HEADER_SIZE,
                          total, KIND_INT if is_int else KIND_F32, n_layers, in_bits, output,
                          out_bits, ARITH_CODES[arith], bytes([flags, 0]), obs_dim, act_dim,
                          HEADER_SIZE,
                          lut_off, host_off, len(host), meta_off, len(meta_bytes), layout_bytes,
                          tflite_off, b"\0" * 4)
    data = header + b"".join(records) + b"".join(body.parts)
    assert len(data) == total - 4
    return data + struct.pack("<I", zlib.crc32(data))


def relayout_blob(data: bytes, order: KernelOrder, source: str = "blob") -> bytes:
    """The blob ``data`` with its integer weights in ``order``: the same model, and the same
    bytes when they already are (float32 blobs have no layouts and come back unchanged;
    tflite-arithmetic blobs stay in rows, the order of the tflite kernel that runs them)."""
    model = read_blob(data, source)
    if not isinstance(model, QuantModel):
        return data
    if model.arithmetic == "tflite":  # its kernel reads int8 rows (others: the reference's)
        order = KernelOrder.ROWS
    if blob_layouts(data) == [order.layout_for(layer.w_bits) for layer in model.layers]:
        return data
    return write_blob(model, order=order)


def device_blob(data: bytes, order: KernelOrder, model_format: int = FORMAT_VERSION,
                source: str = "blob", pad_free: bool = False) -> bytes:
    """The bytes a device is sent for the blob ``data``: its weights in ``order`` (as
    :func:`relayout_blob`) and, for firmware that reads version 4, the device image
    (:func:`write_blob` with ``device=True``; ``pad_free``: no layer padded into blocks,
    the layout of a compact load). Idempotent: a device image comes back as is."""
    if model_format < 4:
        return relayout_blob(data, order, source)
    model = read_blob(data, source, device_image=True)
    if isinstance(model, QuantModel) and model.arithmetic == "tflite":
        order = KernelOrder.ROWS
    return write_blob(model, order=order, device=True, pad_free=pad_free)


def blob_layouts(data: bytes) -> list[WeightLayout]:
    """Each layer's weight layout, from the header of a blob :func:`read_blob` accepts."""
    n_layers = data[13]
    return [WeightLayout.from_code(b) for b in data[48 : 48 + n_layers]]


def blob_meta(data: bytes, source: str = "blob") -> dict[str, object]:
    """A blob's metadata JSON (``env_id``, ``actor_sha256``, ...), of either kind."""
    model = read_blob(data, source)
    if isinstance(model, QuantModel):
        return {"env_id": model.env_id, **model.meta}
    start = _HEADER.unpack_from(data, 0)
    meta_off, meta_size = start[16], start[17]
    return dict(json.loads(data[meta_off:meta_off + meta_size].decode("utf-8")))


def blob_id(data: bytes) -> int:
    """The model id a device reports after LOAD: the blob's CRC32 (its last four bytes)."""
    return int(struct.unpack_from("<I", data, len(data) - 4)[0])


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.sections: list[tuple[int, int, str]] = []

    def fail(self, message: str) -> ModelFormatError:
        return ModelFormatError(f"{self.source}: {message}")

    def section(self, off: int, size: int, what: str) -> bytes:
        end_limit = len(self.data) - 4
        if off % 4:
            raise self.fail(f"{what} offset {off} is not 4-byte aligned")
        if off < HEADER_SIZE or size < 0 or off + size > end_limit:
            raise self.fail(f"{what} [{off}, {off + size}) lies outside the blob body "
                            f"[{HEADER_SIZE}, {end_limit})")
        self.sections.append((off, size, what))
        return self.data[off : off + size]

    def check_overlaps(self) -> None:
        spans = sorted((o, o + s, w) for o, s, w in self.sections if s > 0)
        for (_, end_a, what_a), (start_b, _, what_b) in zip(spans, spans[1:], strict=False):
            if start_b < end_a:
                raise self.fail(f"{what_a} overlaps {what_b}")


def _arr(data: bytes, dtype: str, count: int) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype, count=count)


def _layer_activation(r: _Reader, where: str, version: int, last: bool, code: int,
                      tflite: bool) -> Activation:
    """A record's ``act`` byte: version 1 fixes it by position, version 2 allows any
    activation on hidden layers; the last layer has none either way, but in the tflite
    arithmetic, where it may be a table (a model ending in TANH or LOGISTIC)."""
    act = ACT_OF_CODE.get(code)
    if tflite and act in (Activation.IDENTITY, Activation.TANH):
        return act
    if tflite:
        raise r.fail(f"{where}: activation {code}; tflite layers are identity (1) or a "
                     "table (2)")
    if last:
        if act is not Activation.IDENTITY:
            raise r.fail(f"{where}: activation {code}; the last layer has none (1)")
    elif version == 1 and act is not Activation.RELU:
        raise r.fail(f"{where}: activation {code}; version 1 hidden layers are ReLU (0)")
    elif act is None:
        raise r.fail(f"{where}: activation {code}; hidden layers are ReLU (0), identity (1) "
                     "or tanh (2)")
    return act


def load_blob(path: str | Path) -> tuple[bytes, QuantModel | FloatActor]:
    """A blob file's bytes and the model they hold.

    :raises ModelFormatError: a missing, unreadable or malformed file (one clear line)
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"blob '{path}' does not exist") from None
    except OSError as exc:
        raise ModelFormatError(f"cannot read blob '{path}': {exc.strerror}") from None
    return data, read_blob(data, source=str(path))


def read_blob(data: bytes, source: str = "blob",  # noqa: C901
              device_image: bool = False) -> QuantModel | FloatActor:
    """Parse and fully validate a blob; any defect raises :class:`ModelFormatError`.

    :param device_image: accept a device image without its host section or metadata
        (version 4); the model then carries neutral stand-ins (centre 0, step 1, output
        scale 1, actions in [-1, 1], no metadata), right for its integer codes only
    """
    r = _Reader(data, source)
    if len(data) < HEADER_SIZE + 4:
        raise r.fail(f"{len(data)} bytes is too short for a qhil model (at least {HEADER_SIZE + 4})")
    if len(data) > MAX_BLOB_SIZE:
        raise r.fail(f"{len(data)} bytes exceeds the {MAX_BLOB_SIZE}-byte limit")
    (magic, version, header_size, total, kind, n_layers, in_bits, output, out_bits, arith_code,
     flag_bytes, obs_dim, act_dim, layers_off, lut_off, host_off, host_size, meta_off, meta_size,
     layout_bytes, tflite_off, res4) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise r.fail(f"bad magic {magic!r}; not a qhil model")
    if not 1 <= version <= FORMAT_VERSION:
        raise r.fail(f"format version {version} is not supported (this qhil reads 1..{FORMAT_VERSION})")
    if header_size != HEADER_SIZE:
        raise r.fail(f"header size {header_size}, expected {HEADER_SIZE}")
    if total != len(data):
        raise r.fail(f"header says {total} bytes but the blob has {len(data)} (truncated or padded)")
    stored, actual = blob_id(data), zlib.crc32(data[:-4])
    if stored != actual:
        raise r.fail(f"CRC32 mismatch (stored {stored:08x}, computed {actual:08x}): corrupted")
    flags = flag_bytes[0]
    if flag_bytes[1] or res4 != b"\0" * 4:
        raise r.fail("reserved header bytes are not zero")
    if version < 4 and (arith_code or tflite_off or flags):
        raise r.fail("reserved header bytes are not zero (the arithmetic, byte 17, the flags, "
                     "byte 18, and the tflite section, bytes 56..59, need version 4)")
    if flags & ~FLAG_HALF_TABLE:
        raise r.fail(f"flags 0x{flags:02x}: only bit 0 (the output table's odd half) is defined")
    arithmetic = ARITH_OF_CODE.get(arith_code)
    if arithmetic is None:
        raise r.fail(f"unknown arithmetic {arith_code} (0 qhil, 1 tflite)")
    tflite = arithmetic == "tflite"
    if tflite and (kind != KIND_INT or output != OUT_LINEAR):
        raise r.fail("the tflite arithmetic needs an integer model with a linear output (1)")
    if not tflite and tflite_off:
        raise r.fail("tflite section offset (bytes 56..59) set for a qhil-arithmetic model")
    if kind not in (KIND_INT, KIND_F32):
        raise r.fail(f"unknown model kind {kind}")
    if not 1 <= n_layers <= MAX_LAYERS:
        raise r.fail(f"{n_layers} layers; 1..{MAX_LAYERS} supported")
    if output not in (OUT_TANH, OUT_LINEAR):
        raise r.fail(f"unknown output kind {output}")
    if not (1 <= obs_dim <= MAX_DIM and 1 <= act_dim <= MAX_DIM):
        raise r.fail(f"observation/action sizes {obs_dim}/{act_dim} outside 1..{MAX_DIM}")
    is_int = kind == KIND_INT
    if is_int and not (2 <= in_bits <= 16 and 2 <= out_bits <= 16):
        raise r.fail(f"input/output widths {in_bits}/{out_bits} outside 2..16")
    if not is_int and (in_bits, out_bits) != (F32_WIDTH, F32_WIDTH):
        raise r.fail("float32 models must declare 32-bit input and output")
    if layers_off != HEADER_SIZE:
        raise r.fail(f"layer table at {layers_off}, expected {HEADER_SIZE}")
    r.section(layers_off, n_layers * LAYER_RECORD_SIZE, "layer table")
    if (version < 3 or kind != KIND_INT) and any(layout_bytes):
        raise r.fail("reserved header bytes are not zero (weight layouts, bytes 48..55, "
                     "need version 3 and an integer model)")
    if any(layout_bytes[n_layers:]):
        raise r.fail(f"layout bytes of layers past the {n_layers} the model has are not zero")

    layers: list[QuantLayer] = []
    f_weights: list[np.ndarray] = []
    f_biases: list[np.ndarray] = []
    f_acts: list[Activation] = []
    prev = obs_dim
    for i in range(n_layers):
        (n_in, n_out, w_bits, a_bits, act_code, lut_bits, w_off, w_size, b_off, m_off, s_off,
         t_off) = _LAYER.unpack_from(data, HEADER_SIZE + i * LAYER_RECORD_SIZE)
        where = f"layer {i}"
        last = i == n_layers - 1
        act = _layer_activation(r, where, version, last, act_code, tflite)
        tanh_int = is_int and act is Activation.TANH
        if not tanh_int and (lut_bits or t_off):
            raise r.fail(f"{where}: table fields (bytes 7, 28) must be zero for a "
                         f"{'float32 ' if not is_int else ''}{act.value} layer")
        if n_in != prev or not 1 <= n_out <= MAX_DIM:
            raise r.fail(f"{where}: {n_in} inputs x {n_out} outputs does not follow width {prev}")
        if is_int:
            if not (2 <= w_bits <= 8 and 2 <= a_bits <= 8):
                raise r.fail(f"{where}: widths w={w_bits} a={a_bits} outside 2..8")
            try:
                layout = WeightLayout.from_code(layout_bytes[i])
                layout.check(w_bits)
            except ModelFormatError as exc:
                raise r.fail(f"{where}: {exc}") from None
            if w_size != layout.size(n_in, n_out, w_bits):
                raise r.fail(f"{where}: weights are {w_size} bytes, expected "
                             f"{layout.size(n_in, n_out, w_bits)}")
            try:
                codes = layout.unpack(r.section(w_off, w_size, f"{where} weights"), n_out, n_in,
                                      w_bits)
            except ModelFormatError as exc:
                raise r.fail(f"{where}: {exc}") from None
            lim = (1 << (w_bits - 1)) - 1
            if np.abs(codes.astype(np.int16)).max() > lim:
                raise r.fail(f"{where}: weight code -{lim + 1} is outside the symmetric range")
            bias = _arr(r.section(b_off, 4 * n_out, f"{where} bias"), "<i4", n_out)
            mult = _arr(r.section(m_off, 4 * n_out, f"{where} multipliers"), "<i4", n_out)
            shift = _arr(r.section(s_off, 4 * n_out, f"{where} shifts"), "<i4", n_out)
            table = None
            if tanh_int:
                if not LUT_BITS_MIN <= lut_bits <= LUT_BITS_MAX:
                    raise r.fail(f"{where}: table index width {lut_bits} outside "
                                 f"{LUT_BITS_MIN}..{LUT_BITS_MAX}")
                table = _arr(r.section(t_off, 1 << lut_bits, f"{where} tanh table"), "i1",
                             1 << lut_bits).astype(np.int8)
            layers.append(QuantLayer(codes, w_bits, bias.astype(np.int32), mult.astype(np.int32),
                                     shift.astype(np.int32), a_bits, act, table))
        else:
            if (w_bits, a_bits) != (F32_WIDTH, F32_WIDTH) or m_off or s_off:
                raise r.fail(f"{where}: float32 layers declare 32-bit widths and no requantization")
            if w_size != 4 * n_in * n_out:
                raise r.fail(f"{where}: weights are {w_size} bytes, expected {4 * n_in * n_out}")
            w = _arr(r.section(w_off, w_size, f"{where} weights"), "<f4", n_in * n_out)
            b = _arr(r.section(b_off, 4 * n_out, f"{where} bias"), "<f4", n_out)
            f_weights.append(w.reshape(n_out, n_in).astype(np.float32))
            f_biases.append(b.astype(np.float32))
            f_acts.append(act)
        prev = n_out
    if prev != act_dim:
        raise r.fail(f"last layer has {prev} outputs, header says {act_dim} actions")

    clamps: list[tuple[int, int, int]] = []
    if tflite:
        sec = r.section(tflite_off, 4 * n_layers, "tflite section")
        for i in range(n_layers):
            zero, lo, hi, pad = _TFLITE_LAYER.unpack_from(sec, 4 * i)
            if pad:
                raise r.fail(f"layer {i}: reserved byte of its tflite record is not zero")
            clamps.append((zero, lo, hi))
        layers = [dataclasses.replace(layer, clamp=c) for layer, c in zip(layers, clamps,
                                                                          strict=True)]
    expected_host = 4 * (5 + 2 * act_dim) if tflite else 4 * (2 * obs_dim + 1 + 2 * act_dim)
    no_host = version >= 4 and host_off == host_size == 0
    no_meta = version >= 4 and meta_off == meta_size == 0
    if (no_host or no_meta) and not device_image:
        raise r.fail("a device image (its host section or metadata left out): it runs on a "
                     "device, not in qhil's host converters; use the blob it was made from")
    if no_host:
        host = np.concatenate([np.zeros(1 if tflite else obs_dim), np.ones(1 if tflite else obs_dim),
                               [0.0, 1.0, 0.0] if tflite else [1.0 if is_int else np.inf],
                               -np.ones(act_dim), np.ones(act_dim)]).astype(np.float32)
    elif host_size != expected_host:
        raise r.fail(f"host section is {host_size} bytes, expected {expected_host}")
    else:
        host = _arr(r.section(host_off, host_size, "host section"), "<f4", host_size // 4)
    out_zero = 0.0
    out_kind: Literal["tanh", "clip", "rescale"] = "tanh" if output == OUT_TANH else "clip"
    if tflite:
        first = np.full(obs_dim, host[0], np.float64)
        second = np.full(obs_dim, host[1], np.float64)
        out_zero, scalar, action_map = float(host[2]), float(host[3]), float(host[4])
        maps: dict[float, Literal["clip", "rescale"]] = {0.0: "clip", 1.0: "rescale"}
        if action_map not in maps:
            raise r.fail(f"action mapping {action_map} is not 0 (clip) or 1 (rescale)")
        out_kind = maps[action_map]
        if out_zero != int(out_zero):
            raise r.fail(f"output zero point {out_zero} is not an integer")
        rest = host[5:]
    else:
        first, second = host[:obs_dim], host[obs_dim : 2 * obs_dim]
        scalar = float(host[2 * obs_dim])
        rest = host[2 * obs_dim + 1:]
    # a signalling NaN in a malformed file raises "invalid" when widened; the values are
    # judged below (validate, the action bounds), so widen quietly
    with np.errstate(invalid="ignore"):
        first, second = first.astype(np.float64), second.astype(np.float64)
        low, high = rest[:act_dim].astype(np.float64), rest[act_dim:].astype(np.float64)

    try:
        meta = {} if no_meta else json.loads(r.section(meta_off, meta_size,
                                                       "metadata").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise r.fail(f"metadata is not UTF-8 JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("env_id", ""), str):
        raise r.fail("metadata must be a JSON object with a string env_id")

    lut = None
    halved = bool(flags & FLAG_HALF_TABLE)
    if halved and not (is_int and output == OUT_TANH and not tflite):
        raise r.fail("flag bit 0 (the output table's odd half) set for a model without an "
                     "output tanh table")
    if is_int and output == OUT_TANH:
        size = 1 << layers[-1].out_bits
        count = size // 2 + 1 if halved else size
        lut = _arr(r.section(lut_off, 2 * count, "tanh table"), "<i2", count).astype(np.int16)
        lut = full_table(lut) if halved else lut
    elif lut_off:
        raise r.fail("tanh table present for a model that does not use it")
    r.check_overlaps()

    if not is_int:
        try:
            return FloatActor(tuple(f_weights), tuple(f_biases), first, second, scalar, low, high,
                              "tanh" if output == OUT_TANH else "clip", tuple(f_acts[:-1]))
        except ModelFormatError as exc:
            raise r.fail(str(exc)) from None
    model = QuantModel(layers=layers, in_bits=in_bits, in_center=first.astype(np.float32),
                       in_step=second.astype(np.float32), output=out_kind, out_bits=out_bits,
                       out_scale=scalar, action_low=low.astype(np.float32),
                       action_high=high.astype(np.float32), lut=lut,
                       env_id=str(meta.get("env_id", "")),
                       meta={k: v for k, v in meta.items() if k not in ("env_id", "qhil")},
                       arithmetic=arithmetic, out_zero=int(out_zero))
    try:
        model.validate()
    except ModelFormatError as exc:
        raise r.fail(str(exc)) from None
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low)):
        raise r.fail("action bounds must be finite with high > low")
    return model
