"""``autoquant``: per-layer widths under a budget, trained and verified, end to end.

Read top to bottom:

1. **Sensitivity** of every part at every width (:mod:`qhil.autoquant.sensitivity`).
2. **Search** (:mod:`qhil.autoquant.search`): the greedy path to the budget, plus its
   best neighbours, give the candidates.
3. **QAT** of each candidate (DAgger distillation, :mod:`qhil.train.qat`); selection by
   validation return, test return reported.
4. **Verification** on a device, when a target is given: a closed-loop episode with
   every action checked against the golden executor, and the on-device cost.
5. **Pareto front** (weight bytes, energy, device cost vs return) and the chosen blob.

Every step's result is a file in the work folder, written when the step ends; running
again with the same folder resumes where it stopped (the budget and the model must be
the same).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qhil.autoquant.search import (
    Budget,
    CostFn,
    energy_pj,
    greedy,
    loss_table,
    neighbours,
    predicted_loss,
    weight_bytes,
)
from qhil.autoquant.sensitivity import (
    SensitivityRow,
    as_table,
    from_json,
    probes,
    profile,
    to_json,
)
from qhil.autoquant.settings import AutoquantArgs
from qhil.common.errors import ConfigError
from qhil.common.evaluation import evaluate_policy, percent_of_float
from qhil.common.model_dir import ModelDir
from qhil.common.protocol import TEST_EPISODES, Split, split_seeds
from qhil.harness.run import BenchReport, run_bench
from qhil.harness.settings import BenchSettings
from qhil.quant.blob import write_blob
from qhil.quant.config import BitConfig, parse_bits
from qhil.quant.layout import KernelOrder
from qhil.quant.pipeline import Calibrator
from qhil.quant.policy import QuantPolicy
from qhil.targets import TargetSettings
from qhil.train.qat import qat, save_qat
from qhil.train.settings import QATArgs

__all__ = ["AutoquantArgs", "autoquant"]

LOG = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class Candidate:
    bits: str
    predicted_loss: float
    weight_bytes: float
    energy_pj: float
    within_budget: bool
    validation_return: float | None = None
    test_return: float | None = None
    percent_of_float: float | None = None
    device: dict[str, Any] = field(default_factory=dict)


def _save_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# ALGO LOGIC
# --------------------------------------------------------------------------------------
def autoquant(model: ModelDir, args: AutoquantArgs, work: Path, calibrator: Calibrator,
              progress: Progress | None = None) -> dict[str, Any]:
    """Run (or resume) the whole pipeline in ``work``; returns the summary it writes."""
    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    n_layers = len(model.actor.weights)
    shapes = [(int(w.shape[0]), int(w.shape[1])) for w in model.actor.weights]
    plan = {"model": str(model.path), "budget": str(args.budget), "widths": list(args.widths),
            "in_widths": list(args.in_widths), "probe_episodes": args.probe_episodes}
    plan_path = work / "plan.json"
    if plan_path.exists() and json.loads(plan_path.read_text()) != plan:
        raise ConfigError(f"{work} holds an autoquant run with other settings "
                          f"({plan_path}); use another folder")
    _save_json(plan_path, plan)

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    # 1. sensitivity, one probe at a time (saved as it goes)
    sens_path = work / "sensitivity.json"
    rows = from_json(json.loads(sens_path.read_text())) if sens_path.exists() else []
    todo = [p for p in probes(n_layers, args.widths, args.in_widths)
            if (p.part, p.bits) not in {(r.part, r.bits) for r in rows}]
    float_val = evaluate_policy(model.actor, model.env_id,
                                split_seeds(Split.VALIDATION, args.probe_episodes),
                                Split.VALIDATION).mean

    total = len(rows) + len(todo)

    def keep(row: SensitivityRow) -> None:
        rows.append(row)
        _save_json(sens_path, to_json(rows))
        report("sensitivity", len(rows), total)

    profile(model, calibrator, todo, args.probe_episodes, float_val, on_row=keep)
    loss = loss_table(as_table(rows))

    # 2. search
    cost = _cost_fn(args.budget, shapes, calibrator, args.target, work)
    try:
        path = greedy(n_layers, cost, args.budget.limit, loss)
        chosen_bits = [path[-1], *neighbours(path[-1], cost, args.budget.limit, loss,
                                             args.candidates - 1)]
        size, energy = weight_bytes(shapes), energy_pj(shapes)
        candidates = [Candidate(str(b), predicted_loss(b, loss), size(b), energy(b),
                                cost(b) <= args.budget.limit) for b in chosen_bits]
        search_path = [{"bits": str(b), "cost": cost(b), "predicted_loss": predicted_loss(b, loss)}
                       for b in path]
    finally:
        if isinstance(cost, _DeviceCost):
            cost.close()

    # 3. QAT of each candidate (skipped when its export exists)
    float_test = model.meta.get("eval", {}).get("mean")
    for i, cand in enumerate(candidates):
        out = work / f"candidate{i}.qhil"
        meta_path = out.with_suffix(".json")
        if not (meta_path.exists() and json.loads(meta_path.read_text())["bits"] == cand.bits):
            qargs = QATArgs(bits=parse_bits(cand.bits, n_layers),
                            iterations=args.qat_iterations, grad_steps=args.qat_grad_steps,
                            seed=args.seed)
            save_qat(qat(model, qargs, calibrator), model, qargs, out)
        meta = json.loads(meta_path.read_text())
        cand.validation_return = meta["best_validation_return"]
        cand.test_return = meta["test"]["mean"]
        cand.percent_of_float = meta["percent_of_float"]
        report("qat", i + 1, len(candidates))

    # 4. verification on the device
    if args.target:
        for i, cand in enumerate(candidates):
            cand.device = _verify(model, work / f"candidate{i}.qhil", args.target, work)
            report("verify", i + 1, len(candidates))

    # 5. choice (validation return among those within budget) and Pareto front
    eligible = [c for c in candidates if c.within_budget and
                (not c.device or c.device.get("mismatches") == 0)]
    if not eligible:
        raise ConfigError("no candidate met the budget and ran bit-exactly")
    best = max(eligible, key=lambda c: c.validation_return or -np.inf)
    best_index = candidates.index(best)
    points = [_point(c, i) for i, c in enumerate(candidates)]
    ref_bits = parse_bits("int8", n_layers)
    int8 = calibrator.quantize(ref_bits)
    int8_test = evaluate_policy(QuantPolicy(int8), model.env_id,
                                split_seeds(Split.TEST, TEST_EPISODES), Split.TEST).mean
    points.append({"name": "int8 (PTQ)", "bits": str(ref_bits), "weight_bytes": size(ref_bits),
                   "energy_pj": energy(ref_bits), "test_return": int8_test,
                   "percent_of_float": percent_of_float(int8_test, float_test)
                   if float_test is not None else None})
    summary = {
        "env_id": model.env_id, "model": str(model.path), "budget": str(args.budget),
        "float_test_return": float_test,
        "search_path": search_path,
        "candidates": [vars(c) for c in candidates], "chosen": best_index,
        "pareto": _pareto(points), "points": points,
        "sensitivity": to_json(rows), "float_validation_return": float_val,
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    _save_json(work / "autoquant.json", summary)
    return summary


def _point(c: Candidate, i: int) -> dict[str, Any]:
    return {"name": f"candidate{i}", "bits": c.bits, "weight_bytes": c.weight_bytes,
            "energy_pj": c.energy_pj, "test_return": c.test_return,
            "percent_of_float": c.percent_of_float,
            "device_cost": c.device.get("cost_median") if c.device else None}


def _pareto(points: list[dict[str, Any]]) -> list[str]:
    """Names of the points no other point beats on weight bytes, energy and return at once."""
    def beats(a: dict[str, Any], b: dict[str, Any]) -> bool:
        ge = (a["weight_bytes"] <= b["weight_bytes"] and a["energy_pj"] <= b["energy_pj"]
              and a["test_return"] >= b["test_return"])
        gt = (a["weight_bytes"] < b["weight_bytes"] or a["energy_pj"] < b["energy_pj"]
              or a["test_return"] > b["test_return"])
        return ge and gt

    return [p["name"] for p in points if not any(beats(o, p) for o in points if o is not p)]


def _cost_fn(budget: Budget, shapes: list[tuple[int, int]], calibrator: Calibrator,
             target: str | None, work: Path) -> CostFn:
    if budget.metric == "weight_bytes":
        return weight_bytes(shapes)
    if budget.metric == "energy":
        return energy_pj(shapes)
    if target is None:
        raise ConfigError("a cycles budget is measured on a device: give --target "
                          "(qemu-m4 counts instructions, real boards cycles)")
    return _DeviceCost(calibrator, target, work / "device_cost.json")


class _DeviceCost:
    """On-device cost of a width configuration, measured (BENCH) and cached on disk:
    the cost does not depend on weight values, so a PTQ model of those widths stands in."""

    def __init__(self, calibrator: Calibrator, target: str, path: Path) -> None:
        self.calibrator = calibrator
        self.target_name = target
        self.path = path
        self.cache: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
        self._target: Any = None

    def __call__(self, bits: BitConfig) -> float:
        key = str(bits)
        if key not in self.cache:
            from qhil.targets import start_target

            if self._target is None:
                self._target = start_target(self.target_name, timeout=5.0)
            q = self.calibrator.quantize(bits)
            dev = self._target.device
            dev.load(write_blob(q, order=dev.info.weight_order if dev.info else KernelOrder.ROWS))
            _, med, _, _ = dev.bench(np.zeros(q.obs_dim, dtype=np.int64), 5)
            self.cache[key] = dev.info.cost(med) if dev.info else float(med)
            _save_json(self.path, self.cache)
        return self.cache[key]

    def close(self) -> None:
        if self._target is not None:
            self._target.stop()
            self._target = None


def _verify(model: ModelDir, blob_path: Path, target: str, work: Path) -> dict[str, Any]:
    """One closed-loop episode on the device, every action checked: a bench run of its own
    (repairs, incidents and link counters like any bench), kept in ``<candidate>.device/``
    and read back when it is complete."""
    out = blob_path.with_suffix(".device")
    data = blob_path.read_bytes()
    seed = split_seeds(Split.VALIDATION, 1).start
    report = None
    if (out / "report.json").exists():
        report = BenchReport.load(out)
        if not report.complete or report.variant(blob_path.stem).get("sizes", {}).get(
                "blob_bytes") != len(data):
            shutil.rmtree(out)  # another candidate's, or a run that stopped: measure again
            report = None
    if report is None:
        settings = BenchSettings(model=str(model.path), variants=(), blob=(str(blob_path),),
                                 episodes=1, seed=seed, out=str(out),
                                 device=TargetSettings(target, timeout=5.0))
        report = run_bench(settings)
    entry = report.variant(blob_path.stem)
    return {"target": target, "unit": report.data["target"].get("cost_unit", ""),
            "steps": entry["steps"], "mismatches": entry["bit_exact"]["mismatches"],
            "cost_median": entry["device_cost"]["median"], "seed": seed,
            "return": entry["return"]["mean"], "blob_bytes": len(data),
            "link": report.data["link"], "incidents": report.data["incidents"],
            "report": str(report.path)}
