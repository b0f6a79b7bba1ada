"""The policy under test: one type for everything a bench compares.

Three kinds, one class each: the float policy on the host (the baseline of % of float),
the float policy on the device (float32 kernel) and an integer policy on the device
(quantized now from a bit setting, or given as a blob). Each knows how to act in one
episode (with its timing and device cost), how to check its answers when the episode
ends (golden executor, float32 tolerance), what the device must support, and which
check fields its report entry carries. A new kind is one more class here, plus a line in
:func:`resolve_policies` if the CLI names it.
"""

from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from qhil.bench.results import MAX_MISMATCH_RECORDS, EpisodeResult
from qhil.common.actor import FloatActor
from qhil.common.errors import ConfigError, ModelFormatError
from qhil.common.model_dir import ModelDir
from qhil.link.device import HelloInfo
from qhil.quant.blob import blob_meta, load_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.pipeline import Calibrator
from qhil.quant.policy import ActionDecoder, ObservationQuantizer
from qhil.quant.qmodel import QuantModel
from qhil.targets.fit import does_not_fit
from qhil.targets.info import ModelRoom

__all__ = ["PolicyUnderTest", "HostFloat", "DeviceFloat32", "DeviceInteger", "DeviceLink",
           "EpisodeContext", "ActingEpisode", "resolve_policies", "F32_TOLERANCE",
           "VARIANT_NAMES"]

LOG = logging.getLogger(__name__)
#: Largest float32 difference between device and host accepted as equal (libm's tanhf).
F32_TOLERANCE = 1e-4
_BITS = re.compile(r"^(int8|w\d+a\d+(i\d+)?(o\d+)?)$")
#: What ``--variants`` accepts, for help texts and errors.
VARIANT_NAMES = "float, device-f32, int8, wXaY[iZ]"


class DeviceLink(Protocol):
    """What an episode needs from a device (a :class:`~qhil.bench.session.DeviceSession`)."""

    def infer(self, codes: np.ndarray) -> tuple[np.ndarray, int]: ...

    def infer_f32(self, z: np.ndarray) -> tuple[np.ndarray, int]: ...

    def layer_costs(self, codes: np.ndarray) -> tuple[list[int], np.ndarray]: ...


@dataclass
class EpisodeContext:
    """What one episode of a policy under test works with.

    :param cost_scale: raw device counter -> its unit (cycles, instructions or ns)
    :param record: the episode's result, filled in as it runs
    """

    actor: FloatActor | None
    """the float policy: the host-float kind runs it, the float32 kind is checked against
    it, an integer kind's action error is measured against it (None: not measured)"""
    device: DeviceLink | None
    cost_scale: float
    record: EpisodeResult


class ActingEpisode(Protocol):
    """One episode of a policy under test: the loop calls ``act`` each step, then ``finish``."""

    def act(self, obs: np.ndarray) -> np.ndarray: ...

    def finish(self) -> None: ...

    @property
    def last(self) -> tuple[np.ndarray, np.ndarray]:
        """The last step's request and answer (codes, or float32 in and out)."""
        ...


@dataclass
class PolicyUnderTest(ABC):
    """One policy a bench runs.

    :param name: label in reports (``float``, ``device-f32``, ``int8``, a blob's stem)
    :param blob: the bytes uploaded to the device (device kinds)
    :param bits: the widths, as text (``float32`` for float kinds)
    :param file_bytes: the blob file's length, when ``blob`` was made from it for a device
        (a device image; 0: ``blob`` is the file's bytes)
    """

    name: str
    blob: bytes = b""
    bits: str = "float32"
    file_bytes: int = 0

    kind: ClassVar[str]
    """the report's ``kind`` field"""
    on_device: ClassVar[bool]
    is_float_baseline: ClassVar[bool] = False
    """the policy % of float is measured against"""

    @property
    def qmodel(self) -> QuantModel | None:
        """The integer model (integer kinds)."""
        return None

    @abstractmethod
    def episode(self, ctx: EpisodeContext) -> ActingEpisode:
        """Start one episode."""

    def unsupported(self, info: HelloInfo, room: ModelRoom | None = None) -> str | None:
        """Why a device that said ``info`` in HELLO cannot run this policy (None: it can).

        :param room: where its model goes and how many bytes it may take there (default:
            the RAM arena HELLO declares)
        """
        return None

    def request(self, obs: np.ndarray, actor: FloatActor) -> np.ndarray | None:
        """What the device is sent for observation ``obs`` (None: a host policy)."""
        return None

    def check_fields(self, clean: list[EpisodeResult],
                     all_episodes: list[EpisodeResult]) -> dict[str, Any]:
        """This kind's answer checks, as fields of its report entry."""
        return {}

    def weight_bytes(self, n_macs: int) -> int:
        return 4 * n_macs

    #: bytes of one input or output value in an INFER request or answer (0: host policy)
    element_bytes: ClassVar[int] = 0

    def wire_bytes(self, obs_dim: int, act_dim: int) -> int:
        """An INFER request and its answer on the wire: two frames of 10 bytes of packet
        around the values (the answer's u32 cost too), COBS' byte and a delimiter each."""
        return 2 * (10 + 2) + self.element_bytes * (obs_dim + act_dim) + 4


@dataclass
class HostFloat(PolicyUnderTest):
    kind: ClassVar[str] = "host-float"
    on_device: ClassVar[bool] = False
    is_float_baseline: ClassVar[bool] = True

    def episode(self, ctx: EpisodeContext) -> ActingEpisode:
        return _HostFloatEpisode(ctx)


class _HostFloatEpisode:
    def __init__(self, ctx: EpisodeContext) -> None:
        assert ctx.actor is not None
        self.ctx, self.actor = ctx, ctx.actor
        self.last = (np.zeros(0), np.zeros(0))

    def act(self, obs: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        action = self.actor.act(obs)
        self.ctx.record.rtt_s.append(time.perf_counter() - t0)
        self.last = (obs, action)
        return action

    def finish(self) -> None:
        pass


@dataclass
class DeviceFloat32(PolicyUnderTest):
    kind: ClassVar[str] = "device-f32"
    element_bytes: ClassVar[int] = 4
    on_device: ClassVar[bool] = True

    def episode(self, ctx: EpisodeContext) -> ActingEpisode:
        return _Float32Episode(ctx)

    def request(self, obs: np.ndarray, actor: FloatActor) -> np.ndarray | None:
        return actor.normalize(obs).astype(np.float32)

    def unsupported(self, info: HelloInfo, room: ModelRoom | None = None) -> str | None:
        if not info.float32:
            return "the device has no float32 kernel"
        return does_not_fit(self.blob, info, room)

    def check_fields(self, clean: list[EpisodeResult],
                     all_episodes: list[EpisodeResult]) -> dict[str, Any]:
        return {"f32_max_abs_error": max((e.f32_max_error for e in all_episodes), default=0.0)}


class _Float32Episode:
    """Answers are compared with the host's float32 forward pass (libm's tanhf may differ in
    the last bits, so that check has a tolerance instead of bit-exactness)."""

    def __init__(self, ctx: EpisodeContext) -> None:
        assert ctx.device is not None and ctx.actor is not None
        self.ctx, self.device, self.actor = ctx, ctx.device, ctx.actor
        self.last = (np.zeros(0, np.float32), np.zeros(0, np.float32))

    def act(self, obs: np.ndarray) -> np.ndarray:
        rec = self.ctx.record
        z = self.actor.normalize(obs).astype(np.float32)
        t0 = time.perf_counter()
        y, raw = self.device.infer_f32(z)
        rec.rtt_s.append(time.perf_counter() - t0)
        rec.cost.append(raw * self.ctx.cost_scale)
        rec.f32_max_error = max(rec.f32_max_error,
                                float(np.abs(y - host_f32(self.actor, z)).max()))
        self.last = (z, y)
        return self.actor.unsquash(y)

    def finish(self) -> None:
        pass


@dataclass
class DeviceInteger(PolicyUnderTest):
    """An integer policy; every answer is checked against the golden executor."""

    model: QuantModel | None = None
    _golden: GoldenExecutor | None = field(default=None, init=False, repr=False)

    kind: ClassVar[str] = "device-int"
    element_bytes: ClassVar[int] = 2
    on_device: ClassVar[bool] = True

    @classmethod
    def of(cls, name: str, model: QuantModel, blob: bytes | None = None) -> DeviceInteger:
        return cls(name, blob if blob is not None else write_blob(model), str(model.bits),
                   model=model)

    @property
    def qmodel(self) -> QuantModel:
        assert self.model is not None
        return self.model

    @property
    def golden(self) -> GoldenExecutor:
        if self._golden is None:
            self._golden = GoldenExecutor(self.qmodel)
        return self._golden

    def episode(self, ctx: EpisodeContext) -> ActingEpisode:
        return _IntegerEpisode(self, ctx)

    def request(self, obs: np.ndarray, actor: FloatActor) -> np.ndarray | None:
        return ObservationQuantizer(self.qmodel)(obs)

    def unsupported(self, info: HelloInfo, room: ModelRoom | None = None) -> str | None:
        missing = sorted({w for w in self.qmodel.bits.w if w not in info.widths})
        if missing:
            return (f"the device does not support {', '.join(map(str, missing))}-bit weights "
                    f"(it supports {', '.join(map(str, info.widths))})")
        return does_not_fit(self.blob, info, room)

    def check_fields(self, clean: list[EpisodeResult],
                     all_episodes: list[EpisodeResult]) -> dict[str, Any]:
        examples = [m for e in all_episodes for m in e.mismatches][:MAX_MISMATCH_RECORDS]
        # observations beyond the input range saturate (as an ADC would): worth knowing
        return {"input_saturations": int(sum(e.input_saturations for e in clean)),
                "bit_exact": {"checked_steps": int(sum(e.steps for e in all_episodes)),
                              "mismatches": int(sum(e.mismatch_count for e in all_episodes)),
                              "examples": examples}}

    def weight_bytes(self, n_macs: int) -> int:
        return self.qmodel.weight_bytes


class _IntegerEpisode:
    """The host quantizes each observation into input codes (the ADC), the device answers
    with action codes; at the end the golden executor computes every step in one batch
    (per step it cost more than the device round trip on fast targets)."""

    def __init__(self, policy: DeviceInteger, ctx: EpisodeContext) -> None:
        assert ctx.device is not None
        self.policy, self.ctx, self.device = policy, ctx, ctx.device
        self.adc = ObservationQuantizer(policy.qmodel)
        self.dac = ActionDecoder(policy.qmodel)
        self.inputs: list[np.ndarray] = []
        self.answers: list[np.ndarray] = []
        self.seen: list[np.ndarray] = []  # what it saw, for the float policy's counterpart

    def act(self, obs: np.ndarray) -> np.ndarray:
        rec = self.ctx.record
        x = self.adc(obs)
        if not rec.layer_costs:  # outside the timed request: a LAYERS request of its own
            rec.layer_costs = [c * self.ctx.cost_scale for c in self.device.layer_costs(x)[0]]
        t0 = time.perf_counter()
        codes, raw = self.device.infer(x)
        rec.rtt_s.append(time.perf_counter() - t0)
        rec.cost.append(raw * self.ctx.cost_scale)
        self.inputs.append(x)
        self.answers.append(codes)
        self.seen.append(obs)
        return self.dac(codes)

    @property
    def last(self) -> tuple[np.ndarray, np.ndarray]:
        return self.inputs[-1], self.answers[-1]

    def finish(self) -> None:
        if not self.inputs:
            return
        rec, x, got = self.ctx.record, np.stack(self.inputs), np.stack(self.answers)
        expected = self.policy.golden.action_codes(x)
        bad = np.flatnonzero(~np.all(got == expected, axis=1))
        rec.mismatch_count = int(bad.size)
        for step in bad[:MAX_MISMATCH_RECORDS]:
            rec.mismatches.append({"seed": rec.seed, "step": int(step),
                                   "input_codes": x[step].tolist(),
                                   "device": got[step].tolist(),
                                   "golden": expected[step].tolist()})
        if bad.size:
            LOG.error("%s: %d device answers differ from the golden executor in episode seed "
                      "%d (first at step %d)", rec.variant, bad.size, rec.seed, int(bad[0]))
        rec.input_saturations = int(np.count_nonzero(np.abs(x) == self.policy.qmodel.in_limit))
        if self.ctx.actor is not None:
            rec.action_error = action_error(self.ctx.actor, np.stack(self.seen), self.dac(got))


def action_error(actor: FloatActor, obs: np.ndarray, actions: np.ndarray) -> dict[str, float]:
    """The float policy's actions on the same observations against ``actions``, both in
    units of the action half-range around its centre."""
    mid = 0.5 * (actor.action_high + actor.action_low)
    half = np.maximum(0.5 * (actor.action_high - actor.action_low), 1e-12)
    f = (actor.act(obs) - mid) / half
    q = (actions - mid) / half
    err = q - f
    return {"sum_sq": float(np.sum(err ** 2)), "count": int(err.size),
            "max": float(np.max(np.abs(err))) if err.size else 0.0,
            "sign_flips": int(np.count_nonzero(np.sign(f) * np.sign(q) < 0))}


def host_f32(actor: FloatActor, z: np.ndarray) -> np.ndarray:
    """The float32 kernel's arithmetic on the host (the device-f32 check)."""
    h = z.astype(np.float32)
    last = len(actor.weights) - 1
    for i, (w, b) in enumerate(zip(actor.weights, actor.biases, strict=True)):
        h = w.astype(np.float32) @ h + b.astype(np.float32)
        if i < last:
            h = actor.activations[i].apply(h).astype(np.float32)
    return np.tanh(h) if actor.output == "tanh" else h


def resolve_policies(model: ModelDir, names: list[str], blobs: list[Path],
                     calibrator: Calibrator) -> list[PolicyUnderTest]:
    """Turn ``--variants`` names and ``--blob`` files into policies under test.

    :raises ConfigError: unknown or repeated names
    :raises ModelFormatError: blobs that do not fit the model's env
    """
    policies: list[PolicyUnderTest] = []
    n_layers = len(model.actor.weights)
    for name in names:
        if name == "float":
            policies.append(HostFloat("float"))
        elif name == "device-f32":
            policies.append(DeviceFloat32("device-f32", write_blob(
                model.actor, env_id=model.env_id, meta={"actor_sha256": model.actor_sha256})))
        elif _BITS.match(name):
            policies.append(DeviceInteger.of(name, calibrator.quantize(parse_bits(name, n_layers))))
        else:
            raise ConfigError(f"unknown variant '{name}' ({VARIANT_NAMES}, or give blobs "
                              "with --blob)")
    for path in blobs:
        data, parsed = load_blob(path)
        warning = model.blob_warning(blob_meta(data, str(path)), str(path))
        if warning:
            LOG.warning("warning: %s", warning)
        if (parsed.obs_dim, parsed.action_dim) != (model.actor.obs_dim, model.actor.action_dim):
            raise ModelFormatError(
                f"{path}: blob has {parsed.obs_dim} observations and {parsed.action_dim} "
                f"actions, {model.env_id} has {model.actor.obs_dim} and "
                f"{model.actor.action_dim}")
        policies.append(DeviceInteger.of(path.stem, parsed, data)
                        if isinstance(parsed, QuantModel) else DeviceFloat32(path.stem, data))
    seen: set[str] = set()
    for p in policies:
        if p.name in seen:
            raise ConfigError(f"variant '{p.name}' is given twice")
        seen.add(p.name)
    return policies
