"""A whole bench run: preflight checks, every (variant, noise, seed) episode, the report.

Episodes are saved one by one (:class:`~qhil.bench.store.RunStore`) and the report in the
run folder is rewritten after each, marked partial until the last one; a run that is
interrupted or killed resumes where it stopped and ends with the same report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qhil.bench.policies import PolicyUnderTest
from qhil.bench.results import EpisodeResult
from qhil.bench.runner import VariantResult, run_bench_episode
from qhil.bench.session import DeviceSession
from qhil.bench.store import RunStore
from qhil.bench.timing import LatencyModel, TimingSettings
from qhil.common.envs import make_env
from qhil.common.errors import DeviceError, QhilError
from qhil.common.model_dir import ModelDir
from qhil.common.timing import Plant
from qhil.link.faults import FaultyTransport
from qhil.report.build import build_report, write_report
from qhil.targets.info import WeightsIn
from qhil.targets.power import BoardProfile
from qhil.targets.targets import targets_with_room

__all__ = ["Bench", "preflight"]

LOG = logging.getLogger(__name__)


def preflight(variants: list[PolicyUnderTest], session: DeviceSession | None, target: str) -> None:
    """Everything the device can refuse, refused before the first episode: widths it does
    not support, no float32 kernel, a model that does not fit where it goes (the RAM
    arena, or with ``--weights-in flash`` the flash the firmware leaves).

    :raises QhilError: naming the variant, the reason, and the targets that would take it
    """
    if session is None:
        return
    info = session.device.info
    assert info is not None
    room = session.target.model_room(session.weights_in)
    for v in variants:
        problem = v.unsupported(info, room)
        if problem:
            others = ""
            if v.blob is not None and len(v.blob) > room.bytes:
                fits = [t for t in targets_with_room(len(v.blob), session.weights_in)
                        if t != target]
                flag = " --weights-in flash" if session.weights_in is WeightsIn.FLASH else ""
                others = (f" (targets that would take it{flag}: {', '.join(fits)})" if fits
                          else " (no target qhil knows has the room)")
            raise QhilError(f"variant '{v.name}' cannot run on {target}: {problem}{others}")
        if v.on_device:
            try:
                session.load(v.blob)
            except DeviceError as exc:
                raise QhilError(f"variant '{v.name}' cannot run on {target}: {exc}") from None


@dataclass
class Bench:
    """One run: what to run, where it is saved, and the device (None for host-only runs).

    :param target_meta: the report's ``target`` section
    :param period: the env's control period in seconds (deadline misses)
    """

    model: ModelDir
    variants: list[PolicyUnderTest]
    seeds: list[int]
    noise: list[float]
    store: RunStore
    session: DeviceSession | None
    target_meta: dict[str, Any]
    period: float
    faults: str = ""
    profile: BoardProfile | None = None
    budget: str | None = None  # ceilings the report decides under (qhil.report.decide)
    only: frozenset[str] | None = None
    """the episode keys this bench runs (a job's share of a distributed run); None: all"""
    write_partial: bool = True
    """refresh the partial report after each episode (a job leaves that to the driver)"""
    cycles: dict[str, dict[str, Any]] = field(default_factory=dict)
    """estimated cycles per device variant (``--cycles``), added to its device cost"""
    timing: TimingSettings = field(default_factory=TimingSettings)
    latency: dict[str, LatencyModel] = field(default_factory=dict)
    """each device variant's latency model (--timing), by name"""
    platform_power_w: float | None = None
    """the power the env's plant draws doing its task (``qhil_platform_power_w``)"""
    _done: dict[str, EpisodeResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._done = self.store.done()

    @property
    def total(self) -> int:
        return len(self.variants) * len(self.noise) * len(self.seeds)

    def pending(self, variant: PolicyUnderTest) -> list[tuple[float, int]]:
        return [(level, seed) for level in self.noise for seed in self.seeds
                if (key := RunStore.key(variant.name, level, seed)) not in self._done
                and (self.only is None or key in self.only)]

    def add(self, ep: EpisodeResult) -> None:
        """Save an episode run elsewhere (a job of a distributed run)."""
        self.store.save(ep)
        self._done[RunStore.key(ep.variant, ep.noise, ep.seed)] = ep

    @property
    def episodes(self) -> list[EpisodeResult]:
        return list(self._done.values())

    def run(self, on_episode: Callable[[PolicyUnderTest, EpisodeResult], None] | None = None) -> None:
        """Run every missing episode, saving each and refreshing the partial report."""
        counters = self._link_snapshot()
        for variant in self.variants:
            todo = self.pending(variant)
            if not todo:
                continue
            model_id = arena_bytes = None
            if variant.on_device:
                assert self.session is not None
                self.session.where = {"variant": variant.name}
                loaded = self.session.load(variant.blob)
                # 0 when the model was already active and nothing was uploaded
                model_id, arena_bytes = loaded.model_id, loaded.bytes_used or None
            info = self.session.device.info if self.session is not None else None
            scale = info.cost_num / info.cost_den if info is not None else 1.0
            env = make_env(self.model.env_id)
            plant = None
            if self.timing.on and variant.on_device:
                plant = Plant(env, self.timing.physics_substeps, self.timing.delay_periods)
            elif self.timing.on:  # the zero-latency baseline, on the same physics
                Plant.substeps_only(env, self.timing.physics_substeps)
            try:
                for level, seed in todo:
                    if self.session is not None:
                        self.session.where = {"variant": variant.name, "seed": seed,
                                              "noise": level}
                        first_incident = len(self.session.incidents)
                    try:
                        ep = run_bench_episode(variant, self.model.actor, env, seed,
                                               self.session, noise=level, cost_scale=scale,
                                               plant=plant,
                                               latency=self.latency.get(variant.name))
                    except QhilError:
                        if self.session is not None:
                            self.store.save_incidents(self.session.incidents[first_incident:])
                        raise
                    ep.model_id = model_id
                    ep.arena_bytes = arena_bytes
                    if self.session is not None:
                        ep.incidents = self.session.incidents[first_incident:]
                    now = self._link_snapshot()
                    ep.link = {k: now[k] - counters.get(k, 0) for k in now}
                    counters = now
                    self.add(ep)
                    if self.write_partial:
                        self.write(final=False)
                    if on_episode is not None:
                        on_episode(variant, ep)
            finally:
                env.close()

    def _link_snapshot(self) -> dict[str, int]:
        if self.session is None:
            return {}
        c = self.session.device.counters
        snap = {"requests": c.requests, "retries": c.retries, "corrupt_frames": c.corrupt_frames,
                "stale_frames": c.stale_frames, "timeouts": c.timeouts}
        transport = self.session.device.transport
        if isinstance(transport, FaultyTransport):
            snap |= {f"injected_{k}": v for k, v in transport.counts().items()}
        return snap

    def results(self) -> list[VariantResult]:
        out = []
        for v in self.variants:
            eps = [self._done[k] for level in self.noise for seed in self.seeds
                   if (k := RunStore.key(v.name, level, seed)) in self._done]
            out.append(VariantResult(v, eps))
        return out

    @property
    def complete(self) -> bool:
        return all(not self.pending(v) for v in self.variants)

    def report(self) -> dict[str, Any]:
        results = [r for r in self.results() if any(e.noise == 0.0 for e in r.episodes)]
        episodes = [e for r in self.results() for e in r.episodes]
        link: dict[str, int] = {"requests": 0, "retries": 0, "corrupt_frames": 0,
                                "stale_frames": 0, "timeouts": 0}
        for e in episodes:
            for k, v in e.link.items():
                link[k] = link.get(k, 0) + v
        incidents = [i for e in episodes for i in e.incidents] + self.store.stopped_incidents()
        report = build_report(results, env_id=self.model.env_id, model_path=str(self.model.path),
                              model_meta=self.model.meta, target=self.target_meta,
                              seeds=self.seeds, period=self.period,
                              macs=self.model.actor.n_macs, link=link, profile=self.profile,
                              layer_shapes=[w.shape for w in self.model.actor.weights],
                              timing=self._timing_meta(),
                              platform_power_w=self.platform_power_w)
        for entry in report["variants"]:
            if entry["name"] in self.cycles and "device_cost" in entry:
                entry["device_cost"]["estimated"] = self.cycles[entry["name"]]
        report["link"]["faults_injected"] = self.faults or None
        report["incidents"] = incidents
        report["budget"] = self.budget
        report["complete"] = self.complete
        report["progress"] = {"episodes_done": len(episodes), "episodes_total": self.total}
        return report

    def _timing_meta(self) -> dict[str, Any]:
        t = self.timing
        if not t.on:
            return {"mode": "none"}
        clock = next((m.clock_hz for m in self.latency.values()), t.clock_hz)
        step = self.period / (self._frames() or 1)
        return {"mode": t.mode, "clock_hz": clock, "io_latency_us": t.io_latency_us,
                "physics_substeps": t.physics_substeps, "delay_periods": t.delay_periods,
                "delay_unit": "control periods" if t.delay_periods is not None else
                              "physics steps", "physics_step_s": step,
                "cycles_per_unit": {n: m.cycles_per_unit for n, m in self.latency.items()}}

    def _frames(self) -> int:
        """Physics steps per control step under this run's sub-steps (1: whole periods)."""
        if self.timing.delay_periods is not None:
            return 1
        env = make_env(self.model.env_id)
        try:
            return Plant(env, self.timing.physics_substeps).frames
        finally:
            env.close()

    def write(self, final: bool) -> dict[str, Any]:
        """The report into the run folder; HTML only when ``final`` (it is the slow part)."""
        report = self.report()
        write_report(report, self.store.out, html=final)
        return report
