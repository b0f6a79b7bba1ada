"""Benches spread over a Ray cluster (``qhil bench --ray``, ``qhil matrix --ray``).

A run's missing episodes are cut into jobs; each job is a Ray task that starts its own
target instance (an emulator started by the task, or a board claimed through the Ray
custom resource ``board:<target>`` of the node it hangs off), runs its episodes with the
bench's own loop, and returns them. The driver saves each job's episodes into the run
folder as they arrive, so the run folder, the partial report and ``--resume`` behave as
in a local run, and the final ``report.json`` holds the very episodes an unsplit run gives
(episodes are deterministic per seed; emulated costs are instruction counts).

Ray retries a task whose worker died; a small actor counts how often each job started, and
a job that ran more than once is an incident in the report. Ray is the ``qhil[ray]``
extra; it is imported only here.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qhil.bench.results import EpisodeResult
from qhil.bench.store import RunStore, atomic_write
from qhil.common.errors import ConfigError, QhilError
from qhil.harness.run import BenchProgress, BenchReport, prepare, start_device
from qhil.harness.settings import BenchSettings
from qhil.targets.firmware import build_firmware

__all__ = ["Job", "plan_jobs", "run_job", "run_on_ray", "RayOptions"]

LOG = logging.getLogger(__name__)
#: Attempts Ray makes at a job whose worker died, besides the first.
JOB_RETRIES = 3


@dataclass(frozen=True)
class RayOptions:
    """Where and how: ``address`` of a running cluster (None: start a local one), ``jobs``
    per run (0: one per CPU of the cluster), ``num_cpus`` of a local cluster."""

    address: str | None = None
    jobs: int = 0
    num_cpus: int | None = None


@dataclass(frozen=True)
class Job:
    """One target instance's share of a run: the run's saved settings and episode keys."""

    run: int
    index: int
    plan: dict[str, Any]
    keys: tuple[tuple[str, float, int], ...]

    @property
    def name(self) -> str:
        return f"run {self.run} job {self.index}"


def plan_jobs(run: int, plan: dict[str, Any], pending: list[tuple[str, float, int]],
              jobs: int) -> list[Job]:
    """Cut ``pending`` episodes into at most ``jobs`` contiguous shares (a share mostly
    keeps to one variant, so a job uploads few models)."""
    if not pending:
        return []
    size = math.ceil(len(pending) / max(1, jobs))
    return [Job(run, i, plan, tuple(pending[k:k + size]))
            for i, k in enumerate(range(0, len(pending), size))]


def run_job(job: Job) -> dict[str, Any]:
    """Run one job where it lands: its own target, its own copy of the inputs (PTQ
    calibration is deterministic, so every job quantizes to the same blobs; checked)."""
    t0 = time.perf_counter()  # the whole job: inputs, calibration, target start, episodes
    with tempfile.TemporaryDirectory() as tmp:
        settings = BenchSettings.from_plan({**job.plan, "out": str(Path(tmp) / "job")})
        prep, _ = prepare(settings)
        target, session, meta = start_device(prep, BenchProgress())
        try:
            store = RunStore.create(prep.out, {"settings": job.plan, "model_ids": prep.ids})
            keys = frozenset(RunStore.key(v, n, s) for v, n, s in job.keys)
            bench = prep.bench(store, session, meta, only=keys, write_partial=False)
            bench.run()
            wall = time.perf_counter() - t0
        finally:
            if target is not None:
                target.stop()
    return {"episodes": [e.to_json() for e in bench.episodes], "target": meta,
            "model_ids": prep.ids, "wall_s": wall}


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("Ray is not installed: pip install 'qhil[ray]' (README: beyond one "
                          "machine)") from None
    return ray


def run_on_ray(runs: list[BenchSettings], options: RayOptions,
               resume: list[Path | None] | None = None,
               progress: BenchProgress | None = None) -> list[BenchReport]:
    """Run (or finish) every run of ``runs`` as Ray tasks; returns their reports in order.

    :raises QhilError: bad input (before anything is submitted), a job that failed for
        good (the episodes of the others are saved; ``--resume`` goes on)
    """
    ray = _ray()
    progress = progress or BenchProgress()
    resume = resume or [None] * len(runs)
    prepared = [prepare(s, r, progress) for s, r in zip(runs, resume, strict=True)]
    benches = []
    for prep, store in prepared:
        if store is None:
            store = RunStore.create(prep.out, {"settings": prep.settings.to_plan(),
                                               "model_ids": prep.ids})
        benches.append(prep.bench(store, None, {"name": prep.settings.device.target}))
    # built once, here: jobs building the same firmware folder at once would collide
    drivers = [p.settings.device.open() for p, _ in prepared]
    for env in sorted({p.settings.device.info.pio_env for (p, _), d in zip(prepared, drivers,
                                                                          strict=True)
                       if not p.settings.device.no_build and d.builds_here}):
        progress.say(f"building firmware {env} (incremental) ...")
        build_firmware(env)
    progress.say("connecting to Ray" + (f" at {options.address}" if options.address else
                                        " (a local cluster)") + " ...")
    if not ray.is_initialized():
        ray.init(address=options.address, num_cpus=options.num_cpus, include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False)
    per_run = options.jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
    ledger = _ledger(ray).remote()
    remote_job = ray.remote(max_retries=JOB_RETRIES)(_counted_job)
    jobs: dict[Any, Job] = {}
    for i, ((prep, _), bench, driver) in enumerate(zip(prepared, benches, drivers, strict=True)):
        pending = [(p.name, n, s) for p in prep.policies for n, s in bench.pending(p)]
        share = 1 if driver.exclusive else per_run
        plan = {**bench.store.plan["settings"],
                "device": {**bench.store.plan["settings"]["device"], "no_build": True}}
        for job in plan_jobs(i, plan, pending, share):
            opts: dict[str, Any] = {"num_cpus": 1}
            if driver.ray_resources():  # a board: lands on the node it hangs off
                opts["resources"] = driver.ray_resources()
            jobs[remote_job.options(**opts).remote(job, ledger)] = job
    total = sum(b.total for b in benches)
    if progress.start is not None:
        progress.start(total - sum(len(j.keys) for j in jobs.values()), total)
    failed: list[str] = []
    walls: dict[str, dict[str, Any]] = {}
    waiting = list(jobs)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        job = jobs[done[0]]
        bench = benches[job.run]
        try:
            result = ray.get(done[0])
        except Exception as exc:  # noqa: BLE001 - a task's error, whatever it was
            failed.append(f"{job.name}: {_reason(exc)}")
            continue
        if result["model_ids"] != bench.store.plan["model_ids"]:
            failed.append(f"{job.name}: its models differ from the run's")
            continue
        if bench.target_meta.keys() == {"name"}:
            bench.target_meta = result["target"]
        walls[job.name] = {"run": job.run, "episodes": len(job.keys),
                           "wall_s": round(result["wall_s"], 3)}
        for data in result["episodes"]:
            ep = EpisodeResult.from_json(data)
            bench.add(ep)
            if progress.episode is not None:
                progress.episode(next(p for p in bench.variants if p.name == ep.variant), ep)
        bench.write(final=False)
    starts = ray.get(ledger.starts.remote())
    for job in jobs.values():
        if starts.get(job.name, 0) > 1:
            benches[job.run].store.save_incidents([{
                "job": job.name, "request": "job", "problem": "the Ray worker running it died",
                "action": f"Ray ran the job again ({starts[job.name] - 1} retries)",
                "seconds": None}])
    reports = [BenchReport(b.write(final=True), p.out) for (p, _), b in
               zip(prepared, benches, strict=True)]
    for i, (prep, _) in enumerate(prepared):  # what each job took, for planning a cluster
        mine = {k: {**v, "starts": starts.get(k, 0)} for k, v in walls.items() if v["run"] == i}
        if mine:
            atomic_write(prep.out / "jobs.json", json.dumps(mine, indent=2) + "\n")
    if failed:
        raise QhilError(f"{len(failed)} job(s) failed ({failed[0]}); the other episodes are "
                        "saved: --resume runs what is missing")
    return reports


def _counted_job(job: Job, ledger: Any) -> dict[str, Any]:
    import ray

    ray.get(ledger.started.remote(job.name))
    return run_job(job)


def _ledger(ray: Any) -> Any:
    @ray.remote(num_cpus=0)
    class Ledger:
        """How often each job started: more than once means Ray retried it."""

        def __init__(self) -> None:
            self.counts: dict[str, int] = {}

        def started(self, name: str) -> None:
            self.counts[name] = self.counts.get(name, 0) + 1

        def starts(self) -> dict[str, int]:
            return dict(self.counts)

    return Ledger


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    text = [ln for ln in str(cause if cause is not None else exc).splitlines() if ln.strip()]
    return text[0].strip()[:300] if text else type(exc).__name__
