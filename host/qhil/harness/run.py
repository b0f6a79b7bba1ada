"""Build and run a bench from :class:`BenchSettings`: the one entry point behind ``qhil
bench``, ``qhil.api.bench``, the pytest plugin and autoquant's device check.

Everything that can be wrong with the input fails before any episode runs (one
:class:`~qhil.common.errors.QhilError`); the run folder is created only once the device
has accepted every variant; a run that stops (Ctrl-C, a kill, a device that cannot be
brought back) leaves a partial report and resumes with ``resume=<run folder>``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qhil.bench.policies import DeviceFloat32, DeviceInteger, PolicyUnderTest, resolve_policies
from qhil.bench.results import EpisodeResult
from qhil.bench.session import DeviceSession
from qhil.bench.store import RunStore
from qhil.bench.timing import LatencyModel
from qhil.common.envs import make_env
from qhil.common.errors import ConfigError, QhilError
from qhil.common.model_dir import ModelDir, load_model_dir
from qhil.common.paths import check_writable_dir
from qhil.common.settings import option_of
from qhil.common.timing import Plant
from qhil.harness.campaign import Bench, preflight
from qhil.harness.settings import BenchSettings
from qhil.link.faults import LinkFaults, parse_link_faults
from qhil.link.framing import LoadPrep
from qhil.quant.blob import blob_id, device_blob
from qhil.quant.pipeline import Calibrator
from qhil.report.build import load_report
from qhil.report.decide import parse_budget
from qhil.targets.drivers import Target
from qhil.targets.power import BoardProfile, resolve_profile

__all__ = ["BenchReport", "BenchProgress", "run_bench", "BenchStopped", "Prepared", "prepare",
           "start_device", "check_resume_settings", "finished_report"]

LOG = logging.getLogger(__name__)


@dataclass
class BenchProgress:
    """Callbacks a caller may give to follow a run (all optional).

    :param phase: a sentence when a phase starts (loading, preflight, ...)
    :param start: ``(done, total)`` episodes when the episodes start
    :param episode: after each saved episode
    """

    phase: Callable[[str], None] | None = None
    start: Callable[[int, int], None] | None = None
    episode: Callable[[PolicyUnderTest, EpisodeResult], None] | None = None

    def say(self, text: str) -> None:
        LOG.info("%s", text)
        if self.phase is not None:
            self.phase(text)


@dataclass(frozen=True)
class BenchReport:
    """A bench's report: ``data`` is the ``report.json`` document (schema qhil-report/1,
    docs/reports.md), ``out`` the run folder it was written to."""

    data: dict[str, Any]
    out: Path

    @classmethod
    def load(cls, path: str | Path) -> BenchReport:
        """A report from a run folder or a ``report.json``."""
        p = Path(path)
        file = p / "report.json" if p.is_dir() else p
        return cls(load_report(file), file.parent)

    @property
    def path(self) -> Path:
        return self.out / "report.json"

    @property
    def complete(self) -> bool:
        return bool(self.data.get("complete", True))

    @property
    def mismatches(self) -> int:
        """Device answers that differed from the golden executor, all variants."""
        return sum(v.get("bit_exact", {}).get("mismatches", 0) for v in self.data["variants"])

    def variant(self, name: str) -> dict[str, Any]:
        """One variant's entry (``KeyError`` naming those present if it is not there)."""
        for v in self.data["variants"]:
            if v["name"] == name:
                return dict(v)
        raise KeyError(f"no variant '{name}' (has: "
                       f"{', '.join(v['name'] for v in self.data['variants'])})")

    @property
    def variants(self) -> list[str]:
        return [v["name"] for v in self.data["variants"]]


class BenchStopped(QhilError):
    """The run stopped before its last episode; what finished is saved in ``out``."""

    def __init__(self, message: str, report: BenchReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Prepared:
    """A run's inputs, checked: what every job of it needs besides a device."""

    settings: BenchSettings
    model: ModelDir
    policies: list[PolicyUnderTest]
    ids: dict[str, str | None]
    period: float
    profile: BoardProfile | None
    faults: LinkFaults
    out: Path
    platform_power_w: float | None = None

    def bench(self, store: RunStore, session: DeviceSession | None,
              target_meta: dict[str, Any], **more: Any) -> Bench:
        return Bench(self.model, self.policies, self.settings.seeds, list(self.settings.noise),
                     store, session, target_meta, self.period,
                     faults=self.faults.describe() if self.faults.any else "",
                     profile=self.profile, budget=self.settings.budget,
                     timing=self.settings.timing, platform_power_w=self.platform_power_w,
                     **more)


def check_resume_settings(asked: BenchSettings, given: frozenset[str],
                          resume: str | Path) -> None:
    """Refuse a resume whose explicitly given settings (``given``: field paths such as
    ``device.target``) differ from the run's own: they would be ignored silently.
    ``device.port`` may differ (a board may come back on another port); ``out`` must name
    the run folder itself.

    :raises ConfigError: naming each option, with the given and the saved value
    """
    store = RunStore.open(Path(resume))
    if "settings" not in store.plan:
        return  # prepare() refuses it
    saved = BenchSettings.from_plan(store.plan["settings"])
    def value(plan: dict[str, Any], dotted: str) -> Any:
        for key in dotted.split("."):
            plan = plan[key]
        return plan

    def show(v: Any) -> str:
        return ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v)

    saved_plan = dataclasses.replace(saved, out=str(resume)).to_plan()
    asked_plan = asked.to_plan()
    if asked.out is not None:
        saved_plan["out"] = str(Path(resume).resolve())
        asked_plan["out"] = str(Path(asked.out).resolve())
    differ = []
    for dotted in sorted(given):
        if dotted == "device.port":
            continue
        try:
            mine, theirs = value(asked_plan, dotted), value(saved_plan, dotted)
        except (KeyError, TypeError):
            continue
        if mine != theirs:
            differ.append(f"{option_of(BenchSettings, dotted)} {show(mine)} (the run has "
                          f"{show(theirs)})")
    if differ:
        raise ConfigError(f"--resume {resume} runs with its own settings; these differ: "
                          f"{'; '.join(differ)}. Drop them, or start a new run with -o")


def prepare(settings: BenchSettings, resume: str | Path | None = None,
            progress: BenchProgress | None = None) -> tuple[Prepared, RunStore | None]:
    """Check and load everything a run needs before any device starts.

    :returns: the prepared run, and its store when resuming
    :raises QhilError: bad input (one line)
    """
    progress = progress or BenchProgress()
    store: RunStore | None = None
    if resume is not None:
        store = RunStore.open(Path(resume))
        if "settings" not in store.plan:
            raise ConfigError(f"{resume}: the run was saved by an older qhil; start it again")
        saved = BenchSettings.from_plan(store.plan["settings"])
        port = settings.device.port or saved.device.port
        settings = dataclasses.replace(saved, out=str(resume),
                                       device=dataclasses.replace(saved.device, port=port))
    elif not settings.model:
        raise ConfigError("give a model (or resume a saved run)")
    assert settings.model is not None

    progress.say(f"loading {settings.model} and preparing variants (calibration: "
                 f"{settings.ptq.calib_episodes} episodes) ...")
    model = load_model_dir(settings.model)
    faults = parse_link_faults(settings.link_faults)
    parse_budget(settings.budget)  # a typo fails here, not after the run
    if settings.cycles:
        from qhil.targets.trace import check_traceable

        check_traceable(settings.device.target)
    profile = resolve_profile(settings.board_profile) if settings.board_profile else \
        settings.device.info.profile
    policies = resolve_policies(model, list(settings.variants), [Path(b) for b in settings.blob],
                                Calibrator(model, settings.ptq))
    if not policies:
        raise ConfigError("nothing to run: give variants and/or blobs")
    ids = {p.name: f"0x{blob_id(p.blob):08x}" if p.blob else None for p in policies}
    if store is not None and store.plan["model_ids"] != ids:
        was: dict[str, str | None] = store.plan["model_ids"]
        changes = [f"{n} {was.get(n) or 'absent'} -> {ids.get(n) or 'absent'}"
                   for n in [*was, *(n for n in ids if n not in was)]
                   if was.get(n) != ids.get(n)]
        raise ConfigError(f"{resume}: the models changed since the run started (model ids: "
                          f"{'; '.join(changes)}); start a new run")
    env = make_env(model.env_id)
    period = float(getattr(env.unwrapped, "dt", 0.0) or 0.0)
    platform = getattr(env.unwrapped, "qhil_platform_power_w", None)
    if settings.timing.on:  # an env it cannot delay is refused before any device starts
        try:
            Plant(env, settings.timing.physics_substeps, settings.timing.delay_periods)
        finally:
            env.close()
    env.close()
    out = settings.out_dir(model.env_id)
    if store is None:
        check_writable_dir(out)
        RunStore.check_free(out)
    return Prepared(settings, model, policies, ids, period, profile, faults, out,
                    float(platform) if platform else None), store


def start_device(prep: Prepared, progress: BenchProgress
                 ) -> tuple[Target | None, DeviceSession | None, dict[str, Any]]:
    """Start the target (if a policy runs on a device) and check every policy on it."""
    if not any(p.on_device for p in prep.policies):
        return None, None, _target_meta(prep.settings, None)
    target = prep.settings.device.start(prep.faults)  # logs its build and start
    try:
        session = DeviceSession(target, prep=prep.settings.device.load_prep,
                                weights_in=prep.settings.device.where_weights)
        lay_out_for_kernel(prep.policies, target, prep.settings.device.load_prep)
        meta = _target_meta(prep.settings, target)
        progress.say(f"preflight: loading each variant on {prep.settings.device.target} and "
                     "checking it ...")
        preflight([p for p in prep.policies if p.on_device], session,
                  prep.settings.device.target)
    except BaseException:
        target.stop()
        raise
    return target, session, meta


def finished_report(prep: Prepared, store: RunStore) -> BenchReport | None:
    """The final report of a saved run whose every episode is done (written again from
    its episodes if the run stopped before writing it), or None if something is left."""
    path = prep.out / "report.json"
    try:
        old = load_report(path)
    except QhilError:
        return None
    if prep.settings.cycles and not any("estimated" in v.get("device_cost", {})
                                        for v in old["variants"]):
        return None
    bench = prep.bench(store, None, old["target"])
    if not bench.complete:
        return None
    if not old.get("complete", False):
        bench.cycles = {v["name"]: v["device_cost"]["estimated"] for v in old["variants"]
                        if "estimated" in v.get("device_cost", {})}
        bench.write(final=True)
    return BenchReport.load(prep.out)


def run_bench(settings: BenchSettings, *, resume: str | Path | None = None,
              progress: BenchProgress | None = None) -> BenchReport:
    """Run (or, with ``resume``, finish) a bench and return its report.

    :param resume: a run folder to finish; its saved settings are used, except
        ``settings.device.port`` when given (a board may come back on another port); a run
        with nothing left returns its report without starting anything
    :raises QhilError: bad input, or a device that cannot run a variant (nothing saved)
    :raises BenchStopped: the run stopped part-way (partial report saved); Ctrl-C is
        re-raised as ``KeyboardInterrupt`` after the partial report is written
    """
    progress = progress or BenchProgress()
    prep, store = prepare(settings, resume, progress)
    if store is not None:
        finished = finished_report(prep, store)
        if finished is not None:
            progress.say(f"{prep.out}: every episode is done, nothing left to do")
            return finished
    target, session, target_meta = start_device(prep, progress)
    bench: Bench | None = None
    try:
        traces: dict[str, dict[str, Any]] = {}
        latency: dict[str, LatencyModel] = {}
        if prep.settings.timing.on:  # checked and measured before the run is saved
            prep.settings.timing.check(str(target_meta.get("cost_unit")))
            if target_meta.get("cost_unit") == "instructions":
                traces = estimate_cycles(prep, progress)
            latency = latency_models(prep, target_meta, traces)
        if store is None:  # every check passed: only now is the run saved
            store = RunStore.create(prep.out, {"settings": prep.settings.to_plan(),
                                               "model_ids": prep.ids})
        bench = prep.bench(store, session, target_meta)
        bench.cycles, bench.latency = traces, latency
        if progress.start is not None:
            progress.start(bench.total - sum(len(bench.pending(p)) for p in prep.policies),
                           bench.total)
        bench.run(on_episode=progress.episode)
        if prep.settings.cycles and not bench.cycles:
            bench.cycles = estimate_cycles(prep, progress)
        return BenchReport(bench.write(final=True), prep.out)
    except KeyboardInterrupt:
        if bench is not None:
            bench.write(final=True)
        raise
    except QhilError as exc:
        if bench is None:
            raise
        report = BenchReport(bench.write(final=True), prep.out)
        raise BenchStopped(str(exc), report) from exc
    finally:
        if target is not None:
            target.stop()


def estimate_cycles(prep: Prepared, progress: BenchProgress) -> dict[str, dict[str, Any]]:
    """One traced inference per device variant, on the first episode's first observation
    (qhil.targets.trace); cycles hardly depend on the input (no data-dependent loops)."""
    import tempfile

    from qhil.targets.trace import trace_inference

    env = make_env(prep.model.env_id)
    try:
        obs, _ = env.reset(seed=prep.settings.seeds[0])
    finally:
        env.close()
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="qhil-trace-") as work:
        for policy in prep.policies:
            request = policy.request(np.asarray(obs, np.float64), prep.model.actor)
            if request is None:
                continue
            progress.say(f"tracing one inference of {policy.name} for its cycle estimate ...")
            device = prep.settings.device
            trace = trace_inference(device.target, policy.blob, request, Path(work),
                                    prep=device.load_prep, weights_in=device.where_weights)
            out[policy.name] = trace.summary(prep.profile)
    return out


def latency_models(prep: Prepared, target_meta: dict[str, Any],
                   traces: dict[str, dict[str, Any]]) -> dict[str, LatencyModel]:
    """Each device variant's latency at the run's clock (--clock-hz, else the board
    profile's, else the device's own)."""
    timing = prep.settings.timing
    clock = timing.clock_hz or (prep.profile.clock_hz if prep.profile is not None else 0) or \
        float(target_meta.get("clock_hz") or 0)
    if not clock:
        raise ConfigError("--timing needs a clock: give --clock-hz (the target reports none "
                          "and has no board profile)")
    models = {}
    for policy in prep.policies:
        if policy.on_device:
            wire = policy.wire_bytes(prep.model.actor.obs_dim, prep.model.actor.action_dim)
            models[policy.name] = LatencyModel.for_variant(
                timing, str(target_meta.get("cost_unit")), clock, traces.get(policy.name),
                prep.profile, wire, prep.settings.device.link_baud)
    return models


def lay_out_for_kernel(policies: list[PolicyUnderTest], target: Target,
                       load_prep: LoadPrep = LoadPrep.STORED) -> None:
    """Blobs as the target is sent them: integer weights in the order its kernel runs in
    place (HELLO's kernel, docs/model-format.md#layouts), and device images (no host-only
    sections) for firmware that reads version 4: the same model, so the same answers, with
    no weight copy at load. Episodes record these blobs' model ids; the run's plan keeps
    the files'."""
    info = target.device.info
    assert info is not None
    for p in policies:
        if isinstance(p, DeviceInteger | DeviceFloat32) and p.on_device:
            p.file_bytes = p.file_bytes or len(p.blob)
            p.blob = device_blob(p.blob, info.weight_order, info.model_format, p.name,
                                 pad_free=load_prep is LoadPrep.COMPACT)


def _target_meta(settings: BenchSettings, target: Target | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": settings.device.target}
    if target is None:
        return meta
    info = target.device.info
    assert info is not None
    meta.update(kind=target.kind, machine=target.info.machine,
                url=target.port, expected_board=target.info.board, board=info.board,
                cpu=info.cpu, firmware=info.firmware, kernel=info.kernel,
                cost_unit=info.cost_kind, clock_hz=info.clock_hz, arena_bytes=info.arena_bytes,
                link=target.link.value if target.link is not None else None,
                weight_order=info.weight_order.value,
                widen_weights=settings.device.widen_weights,
                compact_load=settings.device.compact_load,
                weights_in=settings.device.where_weights.value)
    memory = target.memory()
    if memory is not None:
        meta["memory"] = memory
    return meta
