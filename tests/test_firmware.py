"""The real firmware, over a real serial link: native (pty) and QEMU (TCP socket).

Every device answer is compared with the golden executor bit for bit; every class of
malformed frame must get an error answer and leave the device answering HELLO.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edge_models import edge_cases
from firmware_fixtures import check_random_models
from qhil.common.errors import DeviceError
from qhil.link.framing import (
    ErrorCode,
    LoadPrep,
    MsgType,
    Packet,
    cobs_encode,
    decode_frame,
    encode_frame,
)
from qhil.quant.blob import write_blob
from qhil.quant.config import parse_bits
from qhil.quant.layout import KernelOrder
from qhil.quant.random_model import random_quant_model
from qhil.quant.vectors import load_cases
from qhil.targets import EmulatorLink, start_target, target_info
from qhil.targets.firmware import FIRMWARE_DIR

MODELS = Path(__file__).resolve().parents[1] / "models"

# qemu-m3/m4/m7 default to the Ethernet link; qemu-m4 runs every test over its UART too
TARGETS = ["native", "qemu-m0", "qemu-m3", "qemu-m4", "qemu-m4:uart", "qemu-m7", "qemu-m33",
           "qemu-m55", "qemu-rv32", "qemu-stm32f4"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request):
    name, _, link = request.param.partition(":")
    with start_target(name, link=EmulatorLink.parse(link) if link else None) as running:
        yield running


def test_hello_describes_the_target(target) -> None:
    info = target.device.hello()
    assert info.protocol == 1 and info.widths == (2, 3, 4, 5, 6, 7, 8)
    # model limits (after the strings): tanh/identity layers need format 2, blocked
    # weight layouts format 3
    assert info.max_width in (64, 256, 512, 1024) and info.max_layers == 8
    assert info.model_format == 4
    if target.emulated:
        assert info.cost_kind == "instructions" and info.cpu == target.info.cpu
    else:
        assert info.cost_kind == "ns"


def test_shared_vectors_bit_exact(target) -> None:
    arena = target.device.hello().arena_bytes
    for case in load_cases():
        if len(case.blob) > arena:  # a small board must refuse it, clearly
            with pytest.raises(DeviceError, match="TOO_LARGE"):
                target.device.load(case.blob)
            continue
        info = target.device.load(case.blob)
        assert info.obs_dim == case.inputs.shape[1]
        got = np.stack([target.device.infer(x)[0] for x in case.inputs])
        np.testing.assert_array_equal(got, case.outputs, err_msg=f"{target.info.name} {case.name}")


def test_random_models_every_width_bit_exact(target) -> None:
    seeds = range(49 if target.info.name == "native" else 21)
    assert check_random_models(target, seeds, max_width=64 if target.info.name == "qemu-m0" else 72)


def test_random_tflite_models_bit_exact(target) -> None:
    """Models in the tflite arithmetic (zero points, clamps, tables, left shifts, ties of
    the second rounding), device against the golden executor."""
    from qhil.quant.golden import GoldenExecutor
    from qhil.quant.random_model import random_input_codes, random_tflite_model

    for seed, (sizes, tables) in enumerate([([9, 33, 17, 4], "iti"), ([3, 64, 64, 1], "tti"),
                                            ([12, 20, 3], "it")]):
        rng = np.random.default_rng([77, seed])
        model = random_tflite_model(rng, sizes, tables, lshift_share=0.2, tie_share=0.2)
        target.device.load(write_blob(model))
        x = random_input_codes(rng, model, 24)
        got = np.stack([target.device.infer(row)[0] for row in x])
        np.testing.assert_array_equal(got, GoldenExecutor(model).action_codes(x),
                                      err_msg=f"{target.info.name} tflite {seed}")


def test_edge_case_ties_match_the_exact_reference(target) -> None:
    """Exact rounding ties of both signs and biases at their limits (edge_models): the
    device against the exact-fraction reference, on every target and kernel."""
    for case in edge_cases():
        target.device.load(write_blob(case.model))
        got = np.stack([target.device.infer(x)[0] for x in case.inputs])
        np.testing.assert_array_equal(got, case.expected,
                                      err_msg=f"{target.info.name} {case.name}")


def test_bench_reports_costs(target) -> None:
    case = load_cases()[6]
    target.device.load(case.blob)
    lo, med, hi, out = target.device.bench(case.inputs[0], 9)
    assert 0 < lo <= med <= hi
    np.testing.assert_array_equal(out.astype(np.int64), case.outputs[0])
    if target.emulated:
        # -icount makes execution deterministic; the timers tick 2.048x (nRF51) to 128x
        # (STM32 TIM2) per instruction, so readings of one count vary by tick phase only.
        info = target.device.info
        assert info.cost(hi) - info.cost(lo) <= 1.0 + 1e-3 * info.cost(lo)


def test_float32_model_matches_numpy(target) -> None:
    from tests_support import tiny_float_actor

    actor = tiny_float_actor()
    target.device.load(write_blob(actor, env_id="test"))
    rng = np.random.default_rng(3)
    for _ in range(20):
        z = rng.normal(size=actor.obs_dim).astype(np.float32)
        y, _ = target.device.infer_f32(z)
        expected = np.tanh(actor.hidden(z)[-1] * 1.0)
        np.testing.assert_allclose(y, expected, atol=2e-5)


def test_float32_vector_within_its_tolerance(target) -> None:
    """The shared float32 case (tests/vectors/v1/f32_tiny.*), as an outsider would run it."""
    from qhil.quant.vectors import F32_TOLERANCE, load_f32

    if not target.device.hello().float32:
        pytest.skip(f"{target.info.name} is built without float32 models")
    case = load_f32()
    target.device.load(case.blob)
    got = np.stack([target.device.infer_f32(z)[0] for z in case.inputs])
    assert np.abs(got - case.outputs).max() <= F32_TOLERANCE


def _raw(target, frame: bytes) -> Packet:
    """Send raw bytes and return the next answer."""
    dev = target.device
    dev.transport.write(frame)
    import time

    deadline = time.monotonic() + 2.0
    while True:
        f = dev._next_frame(deadline)
        assert f is not None, "device did not answer"
        return decode_frame(f)


def _error_code(packet: Packet) -> int:
    assert packet.type == MsgType.ERROR, packet
    return packet.payload[0]


def _pkt(type_: int, payload: bytes = b"", seq: int = 7, version: int = 1) -> bytes:
    return Packet(type_, seq, payload, version).encode()


def _oversized_frame(type_: int, seq: int, payload: bytes) -> bytes:
    """A well-formed frame the host codec refuses to build (payload over 1024 bytes)."""
    body = struct.pack("<BBHH", 1, type_, seq, len(payload)) + payload
    return cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\0"


@pytest.mark.parametrize(("name", "frame", "code"), [
    ("bad crc", lambda: cobs_encode(_pkt(1)[:-1] + b"\x00") + b"\0", ErrorCode.BAD_CRC),
    ("short", lambda: cobs_encode(b"\x01\x01\x00") + b"\0", ErrorCode.BAD_LENGTH),
    ("length field", lambda: cobs_encode(_pkt(1, b"abc")[:6] + b"ab" +
                                         struct.pack("<I", 0)) + b"\0", ErrorCode.BAD_LENGTH),
    ("unknown type", lambda: encode_frame(Packet(0x42, 9)), ErrorCode.UNKNOWN_TYPE),
    ("version", lambda: cobs_encode(_pkt(1, version=2)) + b"\0", ErrorCode.BAD_VERSION),
    ("cobs", lambda: b"\x05\x01\0", ErrorCode.BAD_FRAME),
    ("overflow", lambda: b"\x01" * 3000 + b"\0", ErrorCode.OVERFLOW),
    ("chunk without begin", lambda: encode_frame(Packet(3, 5, b"\0\0\0\0xx")), ErrorCode.BAD_STATE),
    ("oversized load", lambda: encode_frame(Packet(2, 5, struct.pack("<I", 1 << 30))),
     ErrorCode.TOO_LARGE),
    ("infer payload", lambda: encode_frame(Packet(5, 5, b"\x01")), None),
    ("hello with a payload", lambda: encode_frame(Packet(1, 5, b"x")), ErrorCode.BAD_PAYLOAD),
    ("stats with a payload", lambda: encode_frame(Packet(8, 5, b"x")), ErrorCode.BAD_PAYLOAD),
    ("reset with a payload", lambda: encode_frame(Packet(7, 5, b"x")), ErrorCode.BAD_PAYLOAD),
    ("load of size 0", lambda: encode_frame(Packet(2, 5, b"\0\0\0\0")), ErrorCode.TOO_LARGE),
    ("bench repeats 0", lambda: encode_frame(Packet(6, 5, b"\0\0")), ErrorCode.BAD_PAYLOAD),
])
def test_malformed_frames_get_an_error_and_device_survives(target, name, frame, code) -> None:
    target.device._rx.clear()
    answer = _raw(target, frame())
    got = _error_code(answer)
    if code is not None:
        assert got == code, f"{name}: error {got}"
    assert target.device.hello().protocol == 1


def test_payload_limit_is_the_declared_maximum(target) -> None:
    """HELLO's maximum payload is the largest accepted, for every type; one byte more is
    OVERFLOW (detail: the maximum), a LOAD_CHUNK's data included."""
    limit = target.device.hello().max_payload
    target.device._rx.clear()
    answer = _raw(target, _oversized_frame(MsgType.INFER, 21, b"\1" * (limit + 1)))
    assert _error_code(answer) == ErrorCode.OVERFLOW and answer.seq == 21
    assert struct.unpack_from("<H", answer.payload, 2)[0] == limit
    target.device.request(MsgType.LOAD_BEGIN, struct.pack("<I", limit))
    answer = _raw(target, _oversized_frame(MsgType.LOAD_CHUNK, 22,
                                           struct.pack("<I", 0) + b"\1" * (limit - 3)))
    assert _error_code(answer) == ErrorCode.OVERFLOW
    received = target.device.request(MsgType.LOAD_CHUNK,
                                     struct.pack("<I", 0) + b"\1" * (limit - 4)).payload
    assert struct.unpack("<I", received)[0] == limit - 4
    target.device.reset()


def test_refused_load_keeps_the_loaded_model(target) -> None:
    model = random_quant_model(np.random.default_rng(2), [4, 8, 2], parse_bits("w4a4", 2))
    target.device.load(write_blob(model))
    x = np.array([1, -2, 3, 0])
    before = target.device.infer(x)[0]
    with pytest.raises(DeviceError, match="TOO_LARGE"):
        target.device.request(MsgType.LOAD_BEGIN, struct.pack("<I", 1 << 30))
    np.testing.assert_array_equal(target.device.infer(x)[0], before)


def test_reset_announces_when_the_device_is_ready(target) -> None:
    """RESET is answered, then the device (a board or QEMU reboots) sends an unsolicited
    HELLO answer with sequence 0 once it listens again; the host waits for it."""
    model = random_quant_model(np.random.default_rng(3), [4, 8, 2], parse_bits("w4a4", 2))
    target.device.load(write_blob(model))
    seen = target.device.counters.announcements
    target.device.reset()
    assert target.device.counters.announcements == seen + 1
    with pytest.raises(DeviceError, match="NO_MODEL"):
        target.device.infer(np.zeros(4))
    first = target.device.stats()
    assert first["loads"] == 0
    # STATS uptime counts from the reset (docs/protocol.md): near 0 now, growing
    assert first["uptime"] < 1 << 15, first
    assert target.device.stats()["uptime"] >= first["uptime"]


def test_truncated_and_garbage_then_resync(target) -> None:
    good = encode_frame(Packet(MsgType.HELLO, 11))
    target.device._rx.clear()
    target.device.transport.write(good[:5] + b"\0")  # truncated frame, then a delimiter
    answer = _raw(target, b"")
    assert answer.type == MsgType.ERROR
    rng = np.random.default_rng(0)
    target.device.transport.write(rng.integers(1, 256, 300, dtype=np.uint8).tobytes())
    assert target.device.hello().protocol == 1  # the client resyncs and retries


def test_bad_models_are_rejected_and_the_old_state_is_clean(target) -> None:
    model = random_quant_model(np.random.default_rng(1), [4, 8, 2], parse_bits("w4a4", 2))
    blob = bytearray(write_blob(model))
    blob[70] ^= 0x10  # a layer field, CRC now wrong
    with pytest.raises(DeviceError, match="BAD_MODEL: CRC"):
        target.device.load(bytes(blob))
    with pytest.raises(DeviceError, match="NO_MODEL"):
        target.device.infer(np.zeros(4))
    big = bytearray(write_blob(model))
    struct.pack_into("<H", big, 4, 9)
    struct.pack_into("<I", big, len(big) - 4, zlib.crc32(bytes(big[:-4])))
    with pytest.raises(DeviceError, match="BAD_MODEL: version"):
        target.device.load(bytes(big))
    # format version 3's layouts, refused for the host reader's reasons
    # (test_blob_rejects.py): an undefined layout byte, a non-zero padding code
    blocked = write_blob(model, order=KernelOrder.DSP)
    for offset, value, reason in ((48, 0x42, "header field"), (48, 0x12, "header field"),
                                  (struct.unpack_from("<I", blocked, 72)[0] + 2, 1, "padding")):
        bad = bytearray(blocked)
        bad[offset] = value
        struct.pack_into("<I", bad, len(bad) - 4, zlib.crc32(bytes(bad[:-4])))
        with pytest.raises(DeviceError, match=f"BAD_MODEL: {reason}"):
            target.device.load(bytes(bad))
    target.device.load(write_blob(model))
    with pytest.raises(DeviceError, match="BAD_INPUT at input index 2"):
        target.device.infer(np.array([0, 0, 200, 0]))
    stats = target.device.stats()
    assert stats["rejects"] >= 6 and stats["model_id"] != 0


def test_model_that_does_not_fit_the_arena(target) -> None:
    info = target.device.hello()
    with pytest.raises(DeviceError, match="TOO_LARGE"):
        target.device.request(MsgType.LOAD_BEGIN, struct.pack("<I", info.arena_bytes + 4))
    assert target.device.hello().protocol == 1


def test_reference_and_optimized_kernels_agree(tmp_path) -> None:
    exe = tmp_path / "test_kernels"
    src = FIRMWARE_DIR
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{src}/include",
                    str(src / "test/test_kernels.c"), str(src / "src/nn/ref/qhil_fc_ref.c"),
                    str(src / "src/nn/opt/qhil_fc_opt_c.c"),
                    str(src / "src/nn/opt/qhil_fc_tflite_s8.c"), "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe), "3000"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "0 mismatches" in proc.stdout


def test_dsp_kernel_widens_weights_only_when_asked_and_falls_back_without_room() -> None:
    """With LOAD's widen flag the DSP kernel copies each layer's weights into its loops'
    order in spare arena RAM (LOAD's bytes used count it), in the widest form that fits:
    int16, int8, then 2- to 4-bit codes as nibbles; else the layer runs the portable
    kernel. Every case must match the golden executor bit for bit."""
    from qhil.quant.golden import GoldenExecutor
    from qhil.quant.random_model import random_input_codes

    def copies(dev, model) -> int:  # arena bytes beyond the blob (padded to 4)
        blob = write_blob(model)
        info = dev.load(blob, prep=LoadPrep.WIDEN)
        x = random_input_codes(rng, model, 16)
        got = np.stack([dev.infer(row)[0] for row in x])
        np.testing.assert_array_equal(got, GoldenExecutor(model).action_codes(x))
        return info.bytes_used - (len(blob) + 3) // 4 * 4

    def init(*rows) -> int:
        """The sums' starting values: a word per row, rows padded to whole blocks."""
        return 4 * sum(rows)

    def rec(model, layers) -> int:
        """Record bytes for these layers: 16 a row, where scaling the accumulator up for
        shifts below 33 cannot overflow it (qhil_fc_opt_dsp.c, make_records)."""
        total = 0
        for i in layers:
            layer = model.layers[i]
            in_max = model.in_limit if i == 0 else (1 << model.layers[i - 1].out_bits) - 1
            bound = (layer.weights.shape[1] * (1 << (layer.w_bits - 1)) * in_max
                     + int(np.abs(layer.bias.astype(np.int64)).max()))
            lsl = np.maximum(33 - layer.shift.astype(np.int64), 0)
            if np.all((lsl <= 30) & (bound < (1 << (31 - np.minimum(lsl, 30))))):
                total += 16 * layer.weights.shape[0]
        return total

    rng = np.random.default_rng(11)
    with start_target("qemu-stm32f4") as target:  # 64 KB arena
        dev = target.device
        # 3-bit [8, 40, 40, 2]: every layer widened to int16, rows padded to blocks of 4
        small = random_quant_model(rng, [8, 40, 40, 2], parse_bits("w3a3", 3))
        small_copy = 2 * (8 * 40 + 40 * 40 + 40 * 4) + init(40, 40, 4)
        assert copies(dev, small) == small_copy + rec(small, [0, 1, 2])
        # A layer whose accumulator, scaled up for a shift below 33, could overflow gets
        # no records and requantizes row by row.
        assert rec(small, [1]) == 16 * 40
        small.layers[1].bias[0] = 600_000_000
        small.layers[1].shift[1] = 31
        assert rec(small, [1]) == 0
        assert copies(dev, small) == small_copy + rec(small, [0, 2])
        # int8 [8, 150, 150, 2]: the middle layer's int16 copy (46 KB) does not fit, its
        # int8 copy (23 KB, inputs and rows padded to 152) does
        mid8 = random_quant_model(rng, [8, 150, 150, 2], parse_bits("int8", 3))
        assert copies(dev, mid8) == (2 * 8 * 152 + 152 * 152 + 2 * 152 * 4 + init(152, 152, 4)
                                     + rec(mid8, [0, 1, 2]))
        # 3-bit [8, 200, 200, 2]: neither int16 nor int8 fits for the middle layer, a
        # nibble copy (20 KB) does
        mid3 = random_quant_model(rng, [8, 200, 200, 2], parse_bits("w3a3", 3))
        assert copies(dev, mid3) == (2 * 8 * 200 + 200 * 200 // 2 + 2 * 200 * 4
                                     + init(200, 200, 4) + rec(mid3, [0, 1, 2]))
        # int8 [8, 200, 200, 2]: no room for any copy of the middle layer: portable
        wide = random_quant_model(rng, [8, 200, 200, 2], parse_bits("int8", 3))
        assert copies(dev, wide) == 2 * 8 * 200 + 2 * 200 * 4 + init(200, 4) + rec(wide, [0, 2])


def test_dsp_kernel_runs_blocked_weights_in_place_and_copies_nothing_by_default() -> None:
    """Without the widen flag nothing is copied: 8-, 4- and 2-bit layers stored in the DSP
    loops' blocked layouts run there in place (LOAD's bytes used: the blob, each row's
    starting value and, where make_records allows, its 16-byte requantization record),
    rows run the portable kernel (the blob alone); faster in the blocked layout than in
    rows, bit-exact either way."""
    from qhil.quant.golden import GoldenExecutor
    from qhil.quant.random_model import random_input_codes

    rng = np.random.default_rng(12)
    with start_target("qemu-m4") as running:
        dev = running.device
        assert dev.info.weight_order is KernelOrder.DSP
        for sizes, bits in (([17, 64, 64, 6], "int8"), ([5, 37, 13, 3], "w4a4"),
                            ([9, 40, 40, 2], "w3a3"), ([6, 33, 7], "w8a4"),
                            ([19, 35, 9], "w2a2")):
            model = random_quant_model(rng, sizes, parse_bits(bits, len(sizes) - 1))
            x = random_input_codes(rng, model, 24)
            expected = GoldenExecutor(model).action_codes(x)
            costs = {}
            for order in KernelOrder:
                blob = write_blob(model, order=order)
                info = dev.load(blob)
                on_loops = order is KernelOrder.DSP and model.layers[0].w_bits in (2, 4, 8)
                extra = info.bytes_used - (len(blob) + 3) // 4 * 4  # never weights
                r = 4 if model.layers[0].w_bits == 8 else 2
                inits = sum(4 * -(-layer.n_out // r) * r for layer in model.layers)
                rows = sum(layer.n_out for layer in model.layers)
                if on_loops:
                    assert inits <= extra <= inits + 16 * rows and (extra - inits) % 16 == 0
                else:
                    assert extra == 0, (bits, order)
                got = np.stack([dev.infer(row)[0] for row in x])
                np.testing.assert_array_equal(got, expected, err_msg=f"{bits} {order}")
                costs[order] = dev.bench(x[0], 3)[1]
            if model.layers[0].w_bits in (2, 4, 8):
                assert costs[KernelOrder.DSP] < costs[KernelOrder.ROWS], bits


def test_helium_kernel_reads_weights_where_the_blob_keeps_them() -> None:
    """qemu-m55: no copy at load (LOAD's bytes used is the blob, plus 4 bytes a row of
    starting sums for layers fed by a ReLU's 8-bit activations, which run on x - 128),
    8-, 4-, 3- and 2-bit layers on the Helium kernel, odd shapes included (inputs not a
    multiple of 16: the tail-predicated turn; rows not a multiple of 4), bit-exact with
    the golden executor."""
    from qhil.quant.golden import GoldenExecutor
    from qhil.quant.random_model import random_input_codes

    rng = np.random.default_rng(55)
    with start_target("qemu-m55") as running:
        dev = running.device
        for sizes, bits in (([17, 64, 64, 6], "int8"), ([5, 37, 13, 3], "int8"),
                            ([9, 40, 40, 2], "w3a3"), ([3, 37, 21, 1], "w4a4"),
                            ([7, 70, 33, 5], "w2a2"), ([5, 33, 20, 2], "w=4,2,3 a=8,8,8")):
            model = random_quant_model(rng, sizes, parse_bits(bits, len(sizes) - 1))
            blob = write_blob(model)
            info = dev.load(blob)
            eight_bit = "int8" in bits or "a=8" in bits  # ReLU activations of 8 bits
            starts = sum(4 * layer.n_out for layer in model.layers[1:]) if eight_bit else 0
            assert info.bytes_used == (len(blob) + 3) // 4 * 4 + starts
            x = random_input_codes(rng, model, 32)
            got = np.stack([dev.infer(row)[0] for row in x])
            np.testing.assert_array_equal(got, GoldenExecutor(model).action_codes(x))


@pytest.mark.parametrize("name", ["qemu-m0-clang", "qemu-m3-clang", "qemu-m4-clang",
                                  "qemu-m55-clang"])
def test_clang_built_firmware_bit_exact(name: str) -> None:
    """The firmware with its C compiled by clang (custom_compiler = clang): random models of
    every width bit-exact with the golden executor, as the gcc builds."""
    with start_target(name, timeout=5.0) as running:
        assert check_random_models(running, range(7), max_width=64 if "m0" in name else 72) == 7


def test_m0_packed_low_bit_rows_bit_exact() -> None:
    """qemu-m0's 4- and 2-bit rows by packed products (qhil_dot_packed_m0.S): one sum a
    row (4-bit activations), rows in several pieces (8-bit activations and observations
    bound a piece to a few bytes), 2-bit rows in both halves, signed inputs (tanh hidden
    layers), odd widths (a padding code in the last byte), and 16-bit observations that
    leave the packed path: bit-exact with the golden executor."""
    from qhil.quant.config import BitConfig
    from qhil.quant.golden import GoldenExecutor
    from qhil.quant.qmodel import Activation
    from qhil.quant.random_model import random_input_codes

    rng = np.random.default_rng(60)
    cases = [([3, 64, 64, 1], BitConfig((4, 4, 4), (4, 4, 8))),
             ([17, 63, 21, 6], BitConfig((4, 4, 4), (8, 8, 8))),
             ([5, 37, 64, 3], BitConfig((2, 2, 2), (2, 8, 8))),
             ([9, 45, 19, 2], BitConfig((2, 4, 2), (3, 3, 8), 16, 16)),
             ([11, 30, 30, 4], BitConfig((4, 2, 4), (4, 4, 8)))]
    models = [random_quant_model(rng, sizes, bits,
                                 activations=(Activation.TANH, Activation.RELU) if k == 4 else ())
              for k, (sizes, bits) in enumerate(cases)]
    # the bound on a piece at its limit: every code at the largest value a row can add,
    # against inputs at +-in_max (a piece one byte longer would overflow a half)
    extreme = random_quant_model(rng, [40, 20, 24, 2], BitConfig((4, 4, 4), (8, 8, 8)))
    for layer in extreme.layers[:2]:
        layer.weights[:] = 7
        layer.weights[1::2] = -7
    models.append(extreme)
    with start_target("qemu-m0", timeout=5.0) as running:
        dev = running.device
        for model in models:
            dev.load(write_blob(model))
            x = random_input_codes(rng, model, 24)
            x[:8] = 127
            x[8:16] = -127
            got = np.stack([dev.infer(row)[0] for row in x])
            np.testing.assert_array_equal(got, GoldenExecutor(model).action_codes(x),
                                          err_msg=f"{[layer.w_bits for layer in model.layers]}")


@pytest.mark.parametrize(("env", "machine", "cases"), [("qemu-m4-kernels", "mps2-an386", 1000),
                                                      ("qemu-m55-kernels", "mps3-an547", 4000)])
def test_optimized_kernel_matches_reference_on_the_core(env: str, machine: str,
                                                         cases: int) -> None:
    """firmware/test/dsp_selftest on the core: random layers of every width, DSP kernel
    (M4: each at every copy tier down to the portable kernel) or Helium kernel (M55) vs
    qhil_fc_ref; and random float32 layers, the VFMA kernel vs qhil_fc_f32."""
    import os
    import select
    import shutil
    import time

    from qhil.targets.firmware import build_firmware

    elf = build_firmware(env)
    qemu = shutil.which("qemu-system-arm")
    assert qemu is not None
    proc = subprocess.Popen([qemu, "-M", machine, "-nographic", "-monitor", "none",
                             "-serial", "stdio", "-kernel", str(elf)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        line = b""
        while not line.endswith(b"\n") and (left := deadline - time.monotonic()) > 0:
            if select.select([proc.stdout], [], [], left)[0]:  # a hung core must not hang CI
                line += os.read(proc.stdout.fileno(), 256)
    finally:
        proc.kill()
        proc.wait()
    fields = dict(kv.split("=") for kv in line.decode().split()[1:])
    assert line.startswith(b"qhil-kernels") and fields["mismatches"] == "0", line
    assert int(fields["cases"]) == cases
    if env == "qemu-m4-kernels":
        assert int(fields["runs"]) >= 3 * cases  # most layers ran 3-4 tiers
    # the FPU float32 kernel against the reference, within float rounding
    assert int(fields["f32_cases"]) >= 300 and fields["f32_mismatches"] == "0", line


EXPECTED_KERNEL = {"native": "optimized C", "qemu-m0": "optimized C", "qemu-m3": "optimized C",
                   "qemu-m4": "DSP", "qemu-m7": "DSP", "qemu-m33": "DSP", "qemu-m55": "Helium",
                   "qemu-rv32": "optimized C",
                   "qemu-stm32f4": "DSP"}


def test_no_target_silently_gets_a_slower_kernel(target) -> None:
    assert target.device.hello().kernel == EXPECTED_KERNEL[target.info.name]


# QEMU's CMSDK and STM32 UART models take one byte per pass of QEMU's main loop (~30-60 us
# a byte here; -icount makes no difference), so uploading every [256, 256] export of every
# task took 35-43 s per UART lane. Those lanes upload each wide export name once, from a
# task that rotates with the lane (together they cover most tasks); native and the
# Ethernet lanes upload them all.
WIDE_ON_UART = 128


def _over_a_uart(lane: str) -> bool:
    """Whether a TARGETS entry runs over a UART (its named link, else its default one)."""
    name, _, link = lane.partition(":")
    links = target_info(name).links
    chosen = EmulatorLink.parse(link) if link else links[0] if links else None
    return chosen is EmulatorLink.UART


UART_LANES = [lane for lane in TARGETS if _over_a_uart(lane)]


def _wide_exports() -> dict[str, list[Path]]:
    """Shipped exports with a hidden layer wider than WIDE_ON_UART, by file name."""
    from qhil.quant.blob import read_blob
    from qhil.quant.qmodel import QuantModel

    wide: dict[str, list[Path]] = {}
    for path in sorted(MODELS.glob("*/*.qhil")):
        qmodel = read_blob(path.read_bytes())
        if isinstance(qmodel, QuantModel) and max(
                layer.n_out for layer in qmodel.layers[:-1]) > WIDE_ON_UART:
            wide.setdefault(path.name, []).append(path)
    return wide


def _shipped_exports(lane: str) -> list[Path]:
    """The shipped exports ``lane`` (a TARGETS entry) uploads."""
    exports = sorted(MODELS.glob("*/*.qhil"))
    if lane not in UART_LANES:
        return exports
    wide = _wide_exports()
    lane_index = TARGETS.index(lane)
    skipped = {p for k, paths in enumerate(wide.values())
               for i, p in enumerate(paths) if i != (lane_index + k) % len(paths)}
    return [p for p in exports if p not in skipped]


def test_shipped_models_bit_exact(target, request) -> None:
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.blob import read_blob
    from qhil.quant.golden import GoldenExecutor
    from qhil.quant.pipeline import Calibrator, PTQOptions
    from qhil.quant.random_model import random_input_codes
    from qhil.targets.fit import does_not_fit

    hello = target.device.hello()
    blobs = []
    for folder in sorted(p for p in MODELS.iterdir() if (p / "meta.json").is_file()):
        model = load_model_dir(folder)
        blobs.append((f"{folder.name} ptq int8", write_blob(Calibrator(
            model, PTQOptions(calib_episodes=2)).quantize(
                parse_bits("int8", len(model.actor.weights))))))
    blobs += [(f"{p.parent.name} {p.name}", p.read_bytes())
              for p in _shipped_exports(request.node.callspec.params["target"])]
    checked = 0
    for name, blob in blobs:
        if does_not_fit(blob, hello):  # e.g. a 128-wide export on the M0
            continue
        qmodel = read_blob(blob)
        x = random_input_codes(np.random.default_rng(checked), qmodel, 24)
        target.put_model(blob)  # laid out as a bench sends it: the device image
        got = np.stack([target.device.infer(row)[0] for row in x])
        np.testing.assert_array_equal(got, GoldenExecutor(qmodel).action_codes(x),
                                      err_msg=f"{target.info.name} {name}")
        checked += 1
    assert checked >= 6


def test_a_uart_lane_skips_only_wide_exports_and_the_lanes_spread_their_tasks() -> None:
    every = set(_shipped_exports("native"))
    wide = _wide_exports()
    assert set(wide) == {"qat_w2.qhil", "qat_w3.qhil", "qat_w3a4.qhil"}
    tasks: dict[str, set[str]] = {name: set() for name in wide}
    for lane in UART_LANES:
        uploaded = set(_shipped_exports(lane))
        assert all(p in wide[p.name] for p in every - uploaded)
        for name, paths in wide.items():
            assert len(uploaded & set(paths)) == 1, (lane, name)
            tasks[name] |= {p.parent.name for p in uploaded & set(paths)}
    assert all(len(t) >= 5 for t in tasks.values()), tasks


def test_every_environment_builds_offline() -> None:
    from qhil.targets.firmware import build_firmware, elf_memory

    for env in ("nucleo-f446re", "blackpill-f411"):
        elf = build_firmware(env)
        mem = elf_memory(elf)
        assert 0 < mem["flash"] < 64 * 1024 and 0 < mem["ram"] <= 128 * 1024


def test_model_compiled_into_flash_runs_without_upload(tmp_path) -> None:
    """qemu-m0-builtin: a float32 model bigger than the M0's RAM arena, from flash."""
    from qhil.bench.policies import host_f32
    from qhil.cli.main import main
    from qhil.quant.blob import blob_id, device_blob
    from qhil.quant.layout import KernelOrder
    from qhil.targets import start_target
    from qhil.targets.firmware import FIRMWARE_DIR
    from tests_support import tiny_float_actor

    actor = tiny_float_actor((3, 64, 64, 1))
    blob = write_blob(actor)
    (tmp_path / "m.qhil").write_bytes(blob)
    header = FIRMWARE_DIR / ".pio" / "builtin" / "qhil_builtin_model.h"
    header.parent.mkdir(parents=True, exist_ok=True)
    assert main(["-q", "export-c", str(tmp_path / "m.qhil"), "--name", "qhil_builtin",
                 "-o", str(header)]) == 0
    image = device_blob(blob, KernelOrder.ROWS)  # what export-c compiles in
    with start_target("qemu-m0-builtin", timeout=5.0) as target:
        dev = target.device
        assert len(image) > dev.info.arena_bytes  # could never be uploaded
        info = dev.ensure_loaded(image)  # already active: nothing sent
        assert info.model_id == blob_id(image) and info.kind == 1 and info.bytes_used == 0
        z = np.random.default_rng(3).normal(size=(8, 3)).astype(np.float32)
        for row in z:
            y, cost = dev.infer_f32(row)
            np.testing.assert_allclose(y, host_f32(actor, row), atol=1e-4)
            assert cost > 0
        dev.reset()  # the compiled-in model comes back after RESET
        assert dev.stats()["model_id"] == blob_id(image)


def test_layer_costs_add_up_to_the_inference(target) -> None:
    """LAYERS times each layer of one inference: the same answer as INFER, one cost per
    layer, and together no more than the whole inference costs."""
    model = random_quant_model(np.random.default_rng(4), [6, 40, 24, 3], parse_bits("w4a4", 3))
    target.device.load(write_blob(model))
    x = np.array([3, -2, 1, 0, 5, -7])
    codes, total = target.device.infer(x)
    costs, layer_codes = target.device.layer_costs(x)
    np.testing.assert_array_equal(layer_codes, codes)
    assert len(costs) == 3 and all(c >= 0 for c in costs)
    if target.emulated:  # deterministic counts: the big layer costs the most
        assert costs[1] > costs[2] and sum(costs) <= total * 1.05


def test_float32_blob_with_a_nan_weight_is_refused(target) -> None:
    """Found by the model_load fuzzer: the loader took non-finite float32 parameters the
    host reader refuses; a NaN weight would poison every answer."""
    from qhil.quant.blob import read_blob
    from qhil.quant.vectors import load_f32

    if not target.device.hello().float32:
        pytest.skip(f"{target.info.name} is built without float32 models")
    blob = bytearray(load_f32().blob)
    (w_off,) = struct.unpack_from("<I", blob, 64 + 8)  # layer 0's weights
    struct.pack_into("<f", blob, w_off, float("nan"))
    struct.pack_into("<I", blob, len(blob) - 4, zlib.crc32(bytes(blob[:-4])))
    with pytest.raises(DeviceError, match="BAD_MODEL: weight code"):
        target.device.load(bytes(blob))
    with pytest.raises(Exception, match="NaN or inf"):
        read_blob(bytes(blob))


def test_a_burst_longer_than_the_receive_ring_loses_nothing_over_a_uart(target) -> None:
    """Requests sent back to back without reading the answers, 2 KB of them (four times the
    micro:bit's ring): over a UART the firmware holds the sender off while its ring is full
    (the RX interrupt masks itself, docs/protocol.md#links) and answers every one, in
    order. Over the emulated Ethernet the ring drops instead (documented there)."""
    from qhil.targets import EmulatorLink

    if target.link is EmulatorLink.ETHERNET:
        pytest.skip("the Ethernet link drops when the ring is full (docs/protocol.md)")
    dev = target.device
    dev._rx.clear()
    frames = [encode_frame(Packet(MsgType.HELLO, 1000 + i, b"")) for i in range(170)]
    dev.transport.write(b"".join(frames))  # ~2 KB at once
    import time

    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < len(frames) and (f := dev._next_frame(deadline)) is not None:
        answer = decode_frame(f)
        if answer.seq:  # not a ready announcement
            seen.append(answer.seq)
    assert seen == [1000 + i for i in range(170)]
