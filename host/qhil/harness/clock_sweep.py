"""A clock decision (``qhil bench --clock-sweep``): per device variant and core clock, the
return with the device's latency in the loop, and the lowest clock that keeps 95 % of
the zero-latency float return with no deadline miss.

1. On the device, once per variant: its instructions (or cycles) per inference (the
   median of a BENCH of 21 on the first validation observation; integer kernels have no
   data-dependent loops) and, under QEMU, a cycle trace (cycles per instruction).
2. The search, on validation seeds (docs/evaluation.md: every choice is made there), on
   the host: the golden executor (bit-exact with the device) or the host's float32 pass,
   each action landing after the latency at that clock; the float policy at zero
   latency on the same seeds and physics is the reference. Episodes are cached per delay
   in physics steps (clocks that give the same delay give the same episodes).
3. The decision: the lowest clock whose % of float is >= 95 with no miss, recomputed from
   the rows saved (so anyone can check it).
4. On the device, on the test seeds: the chosen clock and the next lower one, each a
   ``qhil bench --timing device`` run (resumable), against the float policy's test return
   at zero latency.

Everything lands in the sweep folder, resumably: ``search/`` (one file per variant and
delay), ``device/<variant>-<blob id>@<clock>/`` (bench runs; device-f32's blob too),
``sweep.json``, ``summary.md`` and ``clock_sweep.png``.
A re-exported blob gets new device folders, so the sweep runs it again where an old
run's folder would stop the bench ("the models changed"). A device run whose folder holds a
finished report.json on the test seeds is not run again, even with its episodes gone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qhil.bench.policies import DeviceFloat32, DeviceInteger, PolicyUnderTest, host_f32
from qhil.bench.store import atomic_write
from qhil.bench.timing import LatencyModel
from qhil.common.envs import make_env
from qhil.common.episode import FunctionPolicy, Policy, run_episode
from qhil.common.errors import ConfigError
from qhil.common.evaluation import EvalResult, compare_paired
from qhil.common.model_dir import ModelDir
from qhil.common.protocol import SeedRange, Split, check_seeds, split_seeds
from qhil.common.timing import Plant
from qhil.harness.run import BenchProgress, BenchReport, Prepared, estimate_cycles, prepare, run_bench
from qhil.harness.settings import BenchSettings
from qhil.quant.policy import QuantPolicy
from qhil.targets.firmware import firmware_source_hash

__all__ = ["run_clock_sweep", "lowest_clock", "THRESHOLD_PERCENT"]

LOG = logging.getLogger(__name__)
#: what a clock must keep: % of the zero-latency float return (and no deadline miss)
THRESHOLD_PERCENT = 95.0


@dataclass(frozen=True)
class _Task:
    """One search cell: a variant's policy at one delay on the validation seeds."""

    model_path: str
    variant: str
    blob: bytes | None
    kind: str
    delay: int
    seeds: tuple[int, int]
    substeps: int
    delay_periods: int | None
    out: str


def _host_policy(model: ModelDir, kind: str, blob: bytes | None) -> Policy:
    """What the device computes, on the host: the golden executor, or the float32 pass."""
    from qhil.quant.blob import read_blob
    from qhil.quant.qmodel import QuantModel

    if kind == "host-float":
        return model.actor
    assert blob is not None
    parsed = read_blob(blob)
    if isinstance(parsed, QuantModel):
        return QuantPolicy(parsed)
    actor = model.actor
    return FunctionPolicy(lambda obs: actor.unsquash(
        host_f32(actor, actor.normalize(obs).astype(np.float32)).astype(np.float64)))


def _run_task(task: _Task) -> dict[str, Any]:
    """Episodes of one cell (a worker process), cached in ``task.out``."""
    from qhil.common.model_dir import load_model_dir

    path = Path(task.out)
    if path.is_file():
        return dict(json.loads(path.read_text()))
    model = load_model_dir(task.model_path)
    policy = _host_policy(model, task.kind, task.blob)
    returns, steps, terminated = [], [], []
    counted: list[int] = []  # each inference's missed ticks, every episode
    for seed in range(*task.seeds):
        env = make_env(model.env_id)
        if task.kind == "host-float":
            Plant.substeps_only(env, task.substeps)
            ep = run_episode(policy, env, seed)
        else:
            plant = Plant(env, task.substeps, task.delay_periods)
            seconds = task.delay * plant.physics_dt

            def latency(s: float = seconds) -> float:
                return s

            ep = run_episode(policy, env, seed, plant=plant, latency=latency,
                             on_timing=lambda t: counted.append(t.misses))
        env.close()
        returns.append(ep.ret)
        steps.append(ep.steps)
        terminated.append(ep.terminated)
    data = {"variant": task.variant, "delay": task.delay, "seeds": list(task.seeds),
            "returns": returns, "steps": steps, "terminated": terminated, "misses": sum(counted)}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data) + "\n")
    return data


def _result(cell: dict[str, Any]) -> EvalResult:
    return EvalResult(np.asarray(cell["returns"], float), np.asarray(cell["steps"]),
                      np.asarray(cell["terminated"], bool), SeedRange(*cell["seeds"]))


def lowest_clock(rows: list[dict[str, Any]], threshold: float = THRESHOLD_PERCENT) -> float | None:
    """The lowest clock of one variant's rows whose % of float is at least ``threshold``
    with no deadline miss, when every higher clock keeps it too (None: none does)."""
    chosen = None
    for row in sorted(rows, key=lambda r: -r["clock_hz"]):
        if row["misses"] == 0 and row["percent_of_float"] is not None \
                and row["percent_of_float"] >= threshold:
            chosen = row["clock_hz"]
        else:
            break
    return chosen


def _measure(prep: Prepared, progress: BenchProgress) -> tuple[dict[str, float], dict[str, Any],
                                                                dict[str, dict[str, Any]]]:
    """Per device variant, its device cost per inference (BENCH median), the target's
    HELLO facts, and (instruction counters) its cycle trace."""
    from qhil.harness.run import start_device

    target, session, meta = start_device(prep, progress)
    if target is None or session is None:
        raise ConfigError("--clock-sweep needs at least one variant that runs on the device")
    try:
        prep.settings.timing.check(str(meta.get("cost_unit")))
        env = make_env(prep.model.env_id)
        obs, _ = env.reset(seed=prep.settings.seed)
        env.close()
        costs = {}
        info = session.device.info
        assert info is not None
        for policy in prep.policies:
            request = policy.request(np.asarray(obs, np.float64), prep.model.actor)
            if request is None:
                continue
            session.load(policy.blob)
            lo, med, hi, _ = session.device.bench(request, 21,
                                                  float32=isinstance(policy, DeviceFloat32))
            costs[policy.name] = info.cost(med)
            progress.say(f"{policy.name}: {costs[policy.name]:,.0f} {info.cost_kind} per "
                         "inference on the device")
    finally:
        target.stop()
    traces = estimate_cycles(prep, progress) if meta.get("cost_unit") == "instructions" else {}
    return costs, meta, traces


def run_clock_sweep(settings: BenchSettings, clocks: tuple[float, ...], *,
                    search_episodes: int = 20, test_episodes: int = 100, workers: int = 2,
                    progress: BenchProgress | None = None, run_device: bool = True,
                    cache: Path | None = None) -> dict[str, Any]:
    """The clock decision of ``settings``' device variants (module docstring).

    :param search_episodes: validation episodes per search cell
    :param run_device: also run the chosen clock and the next lower one on the device
    :param cache: where search cells and the float test return are kept (default: the
        sweep folder); sweeps of one model on several cores may share one, since a cell
        depends on the model, the variant's blob, the delay and the physics, not the core
    :returns: the ``sweep.json`` document
    """
    progress = progress or BenchProgress()
    if not clocks:
        raise ConfigError("--clock-sweep needs clocks, e.g. 8M,16M,168M")
    timing = dataclasses.replace(settings.timing, mode="device") if not settings.timing.on \
        else settings.timing
    settings = dataclasses.replace(settings, timing=timing,
                                   seed=split_seeds(Split.VALIDATION, search_episodes).start,
                                   episodes=search_episodes)
    prep, _ = prepare(settings, None, progress)
    out = prep.out
    out.mkdir(parents=True, exist_ok=True)
    measured = out / "measured.json"
    # the counts belong to this firmware and these blobs: another of either re-measures
    # before the device run lays the blobs out for its kernel (and strips them for LOAD)
    digests = {p.name: _digest(p) for p in prep.policies}
    files = {p.name: p.blob for p in prep.policies}  # the host search needs the full blobs
    key = {"firmware_sha256": firmware_source_hash(), "blobs": digests}
    saved = json.loads(measured.read_text()) if measured.is_file() else {}
    if saved.get("key") == key:
        costs, meta, traces = saved["costs"], saved["target"], saved["traces"]
    else:
        if saved:
            progress.say("the firmware or a blob changed since the last measurement: "
                         "measuring again")
        costs, meta, traces = _measure(prep, progress)
        atomic_write(measured, json.dumps({"key": key, "costs": costs, "target": meta,
                                           "traces": traces}, indent=2) + "\n")
    search = split_seeds(Split.VALIDATION, search_episodes)
    check_seeds(search, Split.VALIDATION)
    env = make_env(prep.model.env_id)
    plant = Plant(env, timing.physics_substeps, timing.delay_periods)
    step_s, period = plant.physics_dt, plant.period
    env.close()

    def task(policy: PolicyUnderTest | None, delay: int) -> _Task:
        name = policy.name if policy is not None else "float"
        return _Task(str(prep.model.path), name, files[name] if policy is not None else None,
                     policy.kind if policy is not None else "host-float", delay,
                     (search.start, search.stop), timing.physics_substeps, timing.delay_periods,
                     str((cache or out) / "search" / f"{name}-{digests.get(name, 'actor')}~"
                         f"k{timing.physics_substeps}~d{delay}.json"))

    device = [p for p in prep.policies if p.name in costs]
    models = {p.name: {c: LatencyModel.for_variant(timing, str(meta.get("cost_unit")), c,
                                                   traces.get(p.name), prep.profile,
                                                   p.wire_bytes(prep.model.actor.obs_dim,
                                                                prep.model.actor.action_dim),
                                                   prep.settings.device.link_baud)
                       for c in clocks} for p in device}
    cells: dict[tuple[str, float], tuple[float, int]] = {}
    tasks = [task(None, 0)]
    for p in device:
        for c in clocks:
            latency = models[p.name][c].seconds(costs[p.name])
            delay = plant.delay(latency)
            cells[(p.name, c)] = (latency, delay)
            tasks.append(task(p, delay))
    unique = list({t.out: t for t in tasks}.values())
    done = sum(Path(t.out).is_file() for t in unique)
    progress.say(f"search: {len(unique)} cells ({done} saved), {search_episodes} validation "
                 f"episodes each, {workers} worker(s) ...")
    results = _run_all(unique, workers, progress)
    float_res = _result(results[task(None, 0).out])
    rows = []
    for p in device:
        for c in clocks:
            latency, delay = cells[(p.name, c)]
            cell = results[task(p, delay).out]
            paired = compare_paired(_result(cell), float_res)
            rows.append({"variant": p.name, "clock_hz": c, "latency_us": latency * 1e6,
                         "delay_steps": delay, "mean": float(np.mean(cell["returns"])),
                         "percent_of_float": paired.percent if paired.defined else None,
                         "interval95": list(paired.interval) if paired.defined else None,
                         "misses": cell["misses"],
                         "early_terminations": int(sum(cell["terminated"]))})
    decision = {p.name: lowest_clock([r for r in rows if r["variant"] == p.name])
                for p in device}
    doc: dict[str, Any] = {
        "env_id": prep.model.env_id, "target": meta, "clocks": list(clocks),
        "timing": dataclasses.asdict(timing), "physics_step_s": step_s,
        "control_period_s": period, "threshold_percent": THRESHOLD_PERCENT,
        "search": {"seeds": str(search), "float": float_res.as_dict(), "rows": rows},
        "costs": costs, "decision": decision, "device": {}}
    if run_device:
        doc["device"] = _confirm(settings, prep, clocks, decision, digests, test_episodes, out,
                                 progress, cache)
    else:
        doc["device"] = {"skipped": True}
    atomic_write(out / "sweep.json", json.dumps(doc, indent=2) + "\n")
    from qhil.report.sweep import write_sweep_report

    write_sweep_report(doc, out)
    return doc


def _run_all(tasks: list[_Task], workers: int, progress: BenchProgress) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    pending = [t for t in tasks if not Path(t.out).is_file()]
    for t in tasks:
        if Path(t.out).is_file():
            results[t.out] = _run_task(t)
    if workers > 1 and len(pending) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for t, data in zip(pending, pool.map(_run_task, pending), strict=True):
                results[t.out] = data
                _advance(progress, t)
    else:
        for t in pending:
            results[t.out] = _run_task(t)
            _advance(progress, t)
    return results


def _advance(progress: BenchProgress, task: _Task) -> None:
    where = "zero latency" if task.kind == "host-float" else f"a delay of {task.delay} steps"
    progress.say(f"search: {task.variant} at {where} done")


def _digest(policy: PolicyUnderTest | None) -> str:
    """The search cell's model: a blob's id (a float reference: the actor)."""
    from qhil.quant.blob import blob_id, relayout_blob
    from qhil.quant.layout import KernelOrder

    if policy is None or not policy.blob:
        return "actor"
    # the model, not how one kernel wants it laid out: every core shares the cell
    return f"{blob_id(relayout_blob(policy.blob, KernelOrder.ROWS)):08x}"


def _finished(folder: Path, seeds: SeedRange, substeps: int) -> BenchReport | None:
    """A device run's finished report on these seeds and physics, if the folder holds one. A
    finished run needs only its report.json (the episodes and run.json may be gone: a fresh
    clone keeps the reports of benchmarks/results/clock/, not the runs)."""
    path = folder / "report.json"
    if not path.is_file():
        return None
    report = BenchReport.load(path)
    done = (report.complete and report.data.get("seeds") == list(range(seeds.start, seeds.stop))
            and (report.data.get("timing") or {}).get("physics_substeps") == substeps)
    return report if done else None


def _confirm(settings: BenchSettings, prep: Prepared, clocks: tuple[float, ...],
             decision: dict[str, float | None], digests: dict[str, str], episodes: int,
             out: Path, progress: BenchProgress, cache: Path | None) -> dict[str, Any]:
    """The chosen clock and the next lower one of every variant, on the device, on the
    test seeds; and the float policy's zero-latency test return they are compared with."""
    test = split_seeds(Split.TEST, episodes)
    float_cell = _run_task(_Task(str(prep.model.path), "float", None, "host-float", 0,
                                 (test.start, test.stop), settings.timing.physics_substeps,
                                 settings.timing.delay_periods,
                                 str((cache or out) / "test" /
                                     f"float~k{settings.timing.physics_substeps}.json")))
    float_res = _result(float_cell)
    confirmed: dict[str, Any] = {"float": float_res.as_dict(), "runs": []}
    for policy in prep.policies:
        if not isinstance(policy, (DeviceInteger, DeviceFloat32)):
            continue
        chosen = decision.get(policy.name)
        ordered = sorted(clocks)
        picks = [chosen] if chosen is not None else [ordered[-1]]
        at = ordered.index(picks[0])
        if at > 0:
            picks.append(ordered[at - 1])
        for clock in picks:
            assert clock is not None
            folder = out / "device" / f"{policy.name}-{digests[policy.name]}@{clock / 1e6:g}MHz"
            variants = tuple(v for v in settings.variants if v == policy.name)
            blobs = tuple(b for b in settings.blob if Path(b).stem == policy.name)
            run = dataclasses.replace(
                settings, variants=variants, blob=blobs, seed=test.start, episodes=episodes,
                out=str(folder),
                timing=dataclasses.replace(settings.timing, mode="device", clock_hz=clock))
            report = _finished(folder, test, settings.timing.physics_substeps)
            if report is None:
                progress.say(f"on the device: {policy.name} at {clock / 1e6:g} MHz, {episodes} "
                             "test episodes ...")
                resume = folder if (folder / "run.json").is_file() else None
                report = run_bench(run, resume=resume,
                                   progress=BenchProgress(phase=progress.phase))
            entry = report.variant(policy.name)
            returns = entry["return"]["per_episode"]
            result = EvalResult(np.asarray(returns, float), np.ones(len(returns)),
                                np.zeros(len(returns), bool), test)
            paired = compare_paired(result, float_res)
            confirmed["runs"].append({
                "variant": policy.name, "clock_hz": clock, "chosen": clock == chosen,
                "folder": str(folder.relative_to(out)), "mean": entry["return"]["mean"],
                "percent_of_float": paired.percent if paired.defined else None,
                "interval95": list(paired.interval) if paired.defined else None,
                "deadline_misses": entry.get("deadline_misses"),
                "early_terminations": entry.get("early_terminations"),
                "bit_exact": entry.get("bit_exact"),
                "latency_us": (entry.get("timing") or {}).get("latency_us")})
    return confirmed

