"""Typed client of a qhil device: hello / load / infer / bench / reset / stats.

Every request waits for the response with its own sequence number; garbage, corrupt
frames and stale answers are skipped (resynchronizing at the next 0x00), and a request
that gets no valid answer in time is sent again, up to ``retries`` times.
"""

from __future__ import annotations

import logging
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from qhil.common.errors import ConfigError, DeviceError, LinkError
from qhil.link.framing import (
    MAX_PAYLOAD,
    MODEL_ERRORS,
    ErrorCode,
    LoadPrep,
    MsgType,
    Packet,
    decode_frame,
    encode_frame,
)
from qhil.link.transport import Transport
from qhil.quant.blob import blob_id, read_blob
from qhil.quant.layout import KernelOrder
from qhil.quant.qmodel import QuantModel

__all__ = ["Device", "HelloInfo", "LoadInfo", "LinkCounters", "COST_KINDS"]

LOG = logging.getLogger(__name__)
COST_KINDS = {0: "none", 1: "cycles", 2: "instructions", 3: "ns"}
#: Largest repeat count a BENCH request may ask for (docs/protocol.md).
BENCH_MAX_REPEATS = 1000
KERNELS = {0: "reference", 1: "optimized C", 2: "DSP", 3: "Helium"}
_DAMAGE = {bytes([c]) for c in (ErrorCode.BAD_CRC, ErrorCode.BAD_FRAME, ErrorCode.BAD_LENGTH,
                                ErrorCode.OVERFLOW)}


@dataclass(frozen=True)
class HelloInfo:
    protocol: int
    cost_kind: str
    cost_num: int
    cost_den: int
    clock_hz: int
    arena_bytes: int
    max_payload: int
    widths: tuple[int, ...]
    kernel: str
    float32: bool
    firmware: str
    board: str
    cpu: str
    max_width: int = 0
    """widest layer the firmware accepts (0: not said, firmware before model format 2)"""
    max_layers: int = 0
    model_format: int = 1
    """newest model format version the firmware reads"""

    def cost(self, raw: int | float) -> float:
        """A raw counter difference in the kind's unit (cycles, instructions or ns)."""
        return raw * self.cost_num / self.cost_den

    @property
    def weight_order(self) -> KernelOrder:
        """The weight order this firmware's kernel runs in place (docs/model-format.md
        #layouts); firmware that reads no version 3 blobs gets rows."""
        if self.kernel == KERNELS[2] and self.model_format >= 3:
            return KernelOrder.DSP
        return KernelOrder.ROWS


@dataclass(frozen=True)
class LoadInfo:
    model_id: int
    kind: int
    n_layers: int
    obs_dim: int
    act_dim: int
    macs: int
    bytes_used: int


@dataclass
class LinkCounters:
    """What the link had to survive; reported so that a clean-looking result is honest."""

    requests: int = 0
    retries: int = 0
    corrupt_frames: int = 0
    stale_frames: int = 0
    timeouts: int = 0
    announcements: int = 0  # unsolicited "ready" HELLO answers (boot, RESET)
    extra: dict[str, int] = field(default_factory=dict)


class Device:
    """A device behind a :class:`Transport`.

    :param timeout: seconds to wait for each answer
    :param retries: resends after a timeout or a corrupt answer
    """

    def __init__(self, transport: Transport, timeout: float = 1.0, retries: int = 5) -> None:
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.counters = LinkCounters()
        self._seq = 0
        self._rx = bytearray()
        self.info: HelloInfo | None = None
        self.last_load: LoadInfo | None = None
        """what the last LOAD_END through this client answered"""
        self._last_prep = LoadPrep.STORED

    # -- transport ------------------------------------------------------------------
    def _next_frame(self, deadline: float) -> bytes | None:
        while True:
            cut = self._rx.find(0)
            if cut >= 0:
                frame = bytes(self._rx[:cut])
                del self._rx[: cut + 1]
                if frame:
                    return frame
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._rx += self.transport.read(4096, remaining)

    def request(self, type_: MsgType, payload: bytes = b"", timeout: float | None = None,
                retries: int | None = None, resent_ok: int | None = None) -> Packet:
        """Send one request and return its answer; ERROR answers raise :class:`DeviceError`.

        :param resent_ok: an error code that, answering a resent request, means an earlier
            attempt was carried out and only its answer was lost (returned, not raised)
        """
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        self.counters.requests += 1
        for attempt in range(retries + 1):
            self._seq = self._seq % 0xFFFF + 1  # 1..65535: 0 marks unsolicited answers
            seq = self._seq
            wire = encode_frame(Packet(int(type_), seq, payload))
            if attempt:
                self.counters.retries += 1
                # A lost delimiter leaves a partial frame on either side: the leading 0x00
                # ends the device's, and what we hold belongs to attempts given up on.
                wire = b"\0" + wire
                self._rx.clear()
            self.transport.write(wire)
            deadline = time.monotonic() + timeout
            while (frame := self._next_frame(deadline)) is not None:
                try:
                    answer = decode_frame(frame)
                except LinkError:
                    # Most likely our answer, damaged: ask again now rather than time out.
                    self.counters.corrupt_frames += 1
                    break
                if _is_announcement(answer):
                    self.counters.announcements += 1  # the device (re)started: not stale
                    continue
                damaged_request = answer.type == MsgType.ERROR and answer.payload[:1] in _DAMAGE
                if damaged_request and answer.seq in (seq, 0):
                    # The device saw our request damaged (seq 0: it could not even read
                    # the sequence number): send it again.
                    self.counters.corrupt_frames += 1
                    break
                if answer.seq != seq:
                    self.counters.stale_frames += 1
                    continue
                if answer.type == MsgType.ERROR:
                    code, _, detail = struct.unpack_from("<BBH", answer.payload.ljust(4, b"\0"))
                    if attempt and code == resent_ok:
                        return answer
                    raise _device_error(type_, code, detail)
                if answer.type != (int(type_) | 0x80):
                    self.counters.stale_frames += 1
                    continue
                return answer
            else:
                self.counters.timeouts += 1
        raise LinkError(f"no valid answer to {type_.name} after {retries + 1} attempts "
                        f"(timeout {timeout:.2f} s each)")

    # -- commands -------------------------------------------------------------------
    def hello(self, wait: float = 0.0) -> HelloInfo:
        """HELLO, resent until the device answers or ``wait`` seconds pass (boot, QEMU)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                answer = self.request(MsgType.HELLO, timeout=min(self.timeout, 0.3) if wait else None,
                                      retries=0 if wait else None)
                break
            except LinkError:
                if time.monotonic() >= deadline:
                    raise
        return self._parse_hello(answer.payload)

    def _parse_hello(self, p: bytes) -> HelloInfo:
        (proto, kind, num, den, clock, arena, max_payload, widths, kernel,
         f32) = struct.unpack_from("<BBHHIIHHBB", p)
        strings = p[20:].split(b"\0", 3)
        texts = [s.decode("utf-8", "replace") for s in strings[:3]] + ["", "", ""]
        tail = strings[3] if len(strings) > 3 else b""
        max_width, max_layers, model_format = (struct.unpack_from("<HBB", tail) if len(tail) >= 4
                                               else (0, 0, 1))
        self.info = HelloInfo(proto, COST_KINDS.get(kind, f"kind {kind}"), num, den or 1, clock,
                              arena, max_payload, tuple(b for b in range(2, 9) if widths >> b & 1),
                              KERNELS.get(kernel, str(kernel)), bool(f32), texts[0], texts[1],
                              texts[2], max_width, max_layers, model_format)
        return self.info

    def load(self, blob: bytes, chunk: int = 1000, attempts: int = 4,
             prep: LoadPrep = LoadPrep.STORED) -> LoadInfo:
        """Upload and activate a model; verifies the model id the device computes.

        ``prep`` says what the kernel may make at load (:class:`LoadPrep`, LOAD_BEGIN's
        flags): what it makes counts in :attr:`LoadInfo.bytes_used`.

        An upload the link keeps breaking starts again with chunks half as long (a long
        chunk on a noisy link is rarely received whole).
        """
        for attempt in range(attempts):
            try:
                return self._load_once(blob, chunk, prep)
            except LinkError:
                if attempt + 1 == attempts:
                    raise
                chunk = max(chunk // 2, 64)
                LOG.warning("load interrupted; starting it again with %d-byte chunks", chunk)
        raise AssertionError("unreachable")

    def ensure_loaded(self, blob: bytes, prep: LoadPrep = LoadPrep.STORED) -> LoadInfo:
        """:meth:`load`, unless the device already runs this very model (STATS reports its
        id): a model compiled into the firmware, or one uploaded before a reconnect (which
        keeps the preparation it was loaded with)."""
        if self.stats()["model_id"] == blob_id(blob):
            if self.last_load is not None and self.last_load.model_id == blob_id(blob):
                if self._last_prep == prep:
                    return self.last_load  # its arena bytes too
                return self.load(blob, prep=prep)  # prepared the other way
            return self._described(blob)
        return self.load(blob, prep=prep)

    @staticmethod
    def _described(blob: bytes) -> LoadInfo:
        """What LOAD_END would have said of an active ``blob`` (arena bytes unknown: 0)."""
        m = read_blob(blob, device_image=True)
        if isinstance(m, QuantModel):
            shape = (0, len(m.layers), m.obs_dim, m.action_dim, m.n_macs)
        else:
            shape = (1, len(m.weights), m.obs_dim, m.action_dim, m.n_macs)
        return LoadInfo(blob_id(blob), *shape, 0)

    def _load_once(self, blob: bytes, chunk: int, prep: LoadPrep) -> LoadInfo:
        limit = self.info.max_payload if self.info is not None else MAX_PAYLOAD
        chunk = min(chunk, limit - 4)
        begin = (struct.pack("<II", len(blob), int(prep)) if prep is not LoadPrep.STORED
                 else struct.pack("<I", len(blob)))
        self.request(MsgType.LOAD_BEGIN, begin)
        for off in range(0, len(blob), chunk):
            # A resent chunk refused for its offset had landed (chunks go in order, so the
            # device is exactly one chunk ahead); LOAD_END checks length and model id anyway.
            self.request(MsgType.LOAD_CHUNK, struct.pack("<I", off) + blob[off : off + chunk],
                         resent_ok=ErrorCode.BAD_OFFSET)
        answer = self.request(MsgType.LOAD_END, timeout=max(self.timeout, 5.0),
                              resent_ok=ErrorCode.BAD_STATE)
        if answer.type == MsgType.ERROR:
            # A resent LOAD_END found no load in progress: the first one landed and only its
            # answer was lost. STATS says whether that load made this model active.
            if self.stats()["model_id"] != blob_id(blob):
                raise LinkError("LOAD_END's answer was lost and the model is not active")
            return self._described(blob)
        info = LoadInfo(*struct.unpack_from("<IBBHHII", answer.payload))
        if info.model_id != blob_id(blob):
            raise LinkError(f"device reports model id 0x{info.model_id:08x}, "
                            f"expected 0x{blob_id(blob):08x}")
        self.last_load, self._last_prep = info, prep
        return info

    def infer(self, codes: np.ndarray) -> tuple[np.ndarray, int]:
        """Integer inference: ``(action codes, raw cost)``."""
        payload = np.asarray(codes, dtype="<i2").tobytes()
        p = self.request(MsgType.INFER, payload).payload
        (cost,) = struct.unpack_from("<I", p)
        return np.frombuffer(p, dtype="<i2", offset=4).astype(np.int64), cost

    def layer_costs(self, codes: np.ndarray) -> tuple[list[int], np.ndarray]:
        """One integer inference with each layer timed: ``(raw cost per layer, action codes)``."""
        payload = np.asarray(codes, dtype="<i2").tobytes()
        p = self.request(MsgType.LAYERS, payload).payload
        n = p[0]
        costs = list(struct.unpack_from(f"<{n}I", p, 4))
        return costs, np.frombuffer(p, dtype="<i2", offset=4 + 4 * n).astype(np.int64)

    def infer_f32(self, z: np.ndarray) -> tuple[np.ndarray, int]:
        """Float32 inference of a float32 model: ``(outputs, raw cost)``."""
        p = self.request(MsgType.INFER, np.asarray(z, dtype="<f4").tobytes()).payload
        (cost,) = struct.unpack_from("<I", p)
        return np.frombuffer(p, dtype="<f4", offset=4).astype(np.float64), cost

    def bench(self, inputs: np.ndarray, repeats: int, float32: bool = False
              ) -> tuple[int, int, int, np.ndarray]:
        """Repeat one inference on the device: ``(min, median, max raw cost, outputs)``."""
        if not 1 <= repeats <= BENCH_MAX_REPEATS:
            raise ConfigError(f"BENCH repeats must be in 1..{BENCH_MAX_REPEATS}, got {repeats}")
        dtype = "<f4" if float32 else "<i2"
        payload = struct.pack("<H", repeats) + np.asarray(inputs, dtype=dtype).tobytes()
        p = self.request(MsgType.BENCH, payload, timeout=max(self.timeout, 30.0)).payload
        lo, med, hi = struct.unpack_from("<III", p)
        return lo, med, hi, np.frombuffer(p, dtype=dtype, offset=12)

    def reset(self, wait: float = 10.0) -> None:
        """RESET, then wait for the device's ready announcement (docs/protocol.md): a
        request sent while it reboots would be lost. Without an announcement within
        ``wait`` seconds (a lost frame), HELLO is resent until the device answers."""
        self.request(MsgType.RESET)
        deadline = time.monotonic() + wait
        while (frame := self._next_frame(deadline)) is not None:
            try:
                answer = decode_frame(frame)
            except LinkError:
                self.counters.corrupt_frames += 1
                continue
            if _is_announcement(answer):
                self.counters.announcements += 1
                self._parse_hello(answer.payload)
                return
            self.counters.stale_frames += 1
        self.hello(wait=max(self.timeout, 1.0))

    def stats(self) -> dict[str, int]:
        names = ("frames_ok", "crc_errors", "framing_errors", "rejects", "inferences", "loads",
                 "model_id", "uptime")
        return dict(zip(names, struct.unpack_from("<8I", self.request(MsgType.STATS).payload),
                        strict=True))

    def close(self) -> None:
        self.transport.close()


def _is_announcement(answer: Packet) -> bool:
    """The device's unsolicited "ready": a HELLO answer with sequence 0."""
    return answer.seq == 0 and answer.type == (MsgType.HELLO | 0x80)


def _device_error(type_: MsgType, code: int, detail: int) -> DeviceError:
    try:
        name = ErrorCode(code).name
    except ValueError:
        name = f"error {code}"
    extra = f" (detail {detail})"
    if code == ErrorCode.BAD_MODEL:
        extra = f": {MODEL_ERRORS.get(detail, detail)}"
    elif code == ErrorCode.BAD_INPUT:
        extra = f" at input index {detail}"
    elif code == ErrorCode.TOO_LARGE:
        extra = f" (model needs about {detail * 256} bytes)"
    return DeviceError(f"device rejected {type_.name}: {name}{extra}", code)
