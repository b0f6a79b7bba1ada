"""benchmarks/paper_table.py: the table and claims from a results folder, and jobs that
survive a kill."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "paper_table.py"


def _module():
    spec = importlib.util.spec_from_file_location("paper_table", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["paper_table"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _benchmarks_md():
    """benchmarks/make_benchmarks_md.py, imported with benchmarks/ on sys.path."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import make_benchmarks_md
    finally:
        sys.path.pop(0)
    return make_benchmarks_md


def _comparison(pct: float, early: int = 0) -> dict:
    return {"comparison": {"percent_of_float": pct, "interval95": [pct - 2, pct + 1],
                           "episodes": 100, "early_terminations": early,
                           "float_early_terminations": 0}}


def _write(folder: Path, task: str, cell: str, result: dict) -> None:
    (folder / task).mkdir(parents=True, exist_ok=True)
    (folder / task / f"{cell}.json").write_text(json.dumps({"result": result}))


def test_table_and_claims_from_a_fake_results_folder(tmp_path: Path) -> None:
    pt = _module()
    for task, w8, w2, q3, q2 in (("Pendulum-v1", 99.0, 10.0, 97.0, 92.0),
                                 ("Hopper-v5", 96.0, 40.0, 80.0, 96.0)):
        _write(tmp_path, task, "float", {"float": {"mean": 1000.0}})
        _write(tmp_path, task, "ptq_w8", _comparison(w8))
        _write(tmp_path, task, "ptq_w2", _comparison(w2))
        _write(tmp_path, task, "qat_w3", _comparison(q3, early=3) | {"weight_bytes": 2100})
        _write(tmp_path, task, "qat_w2", _comparison(q2))
        for i, w in enumerate(pt.INPUT_WIDTHS):
            step = 8 if task == "Hopper-v5" else 2  # spans 32 and 8 points
            _write(tmp_path, task, f"in{w}", _comparison(70.0 + step * i))
        for x in pt.NOISE:
            _write(tmp_path, task, f"noise_{x}",
                   {"float": {"mean": 900.0}, "golden": {"mean": 950.0 if task == "Hopper-v5"
                                                         else 850.0}})
    _write(tmp_path, "Hopper-v5", "device_qemu-m4",
           {"cost_per_action": 12345.0, "bit_exact": {"checked_steps": 1000, "mismatches": 0},
            "estimated": {"cycles": 23456, "us": 234.56}})
    _write(tmp_path, "Hopper-v5", "device_qemu-m0", {"does_not_fit": "too wide for the M0"})
    text = pt.markdown(pt.load(tmp_path))
    assert "| Pendulum-v1 | 1000.0 | 99.0 (97.0-100.0) | … | … | 10.0 (8.0-11.0) |" in text
    assert "97.0 (95.0-98.0), early 3/0" in text
    assert "| Hopper-v5 | 2100 | 12,345 | ~23,456 (235) | does not fit | … | 1000 of 1000 |" in text
    assert "- Hopper-v5: too wide for the M0" in text
    assert "90.0 / 95.0" in text  # Hopper under noise: float / qat_w3 as % of clean float
    claims = {line.split(":")[0]: line for line in text.split("The paper's claims")[1].splitlines()
              if line.startswith("- ")}
    assert len(claims) == 4
    ptq, qat, inputs, noise = claims.values()
    assert "**held** (2 of 2 tasks)" in ptq
    assert "**held** (2 of 2 tasks)" in qat  # Hopper through qat_w2
    assert "**held with caveats** (1 of 2 tasks)" in inputs
    assert "**held with caveats** (1 of 2 tasks)" in noise


def test_a_model_the_board_cannot_take_is_recorded_not_raised(tmp_path: Path) -> None:
    """Pendulum's shipped qat_w3 is [256, 256]: the M0 cell records the bench's refusal."""
    pt = _module()
    result = pt.run_cell(tmp_path, "Pendulum-v1", pt.CELLS["device_qemu-m0"], 1)["result"]
    assert "cannot run on qemu-m0" in result["does_not_fit"]
    assert "cortex-m0" in result["does_not_fit"]


def test_a_killed_run_loses_only_the_cell_in_progress(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "run", "--tasks", "Pendulum-v1", "--cells",
           "float,ptq_w8", "--episodes", "3", "--results", str(tmp_path)]
    first = tmp_path / "Pendulum-v1" / "float.json"
    second = tmp_path / "Pendulum-v1" / "ptq_w8.json"
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not first.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "first cell never landed"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # the second cell is in progress
    finally:
        proc.wait()
    assert not second.exists()
    done = json.loads(first.read_text())
    assert done["result"]["float"]["episodes"] == 3 and done["commands"] and done["versions"]
    stamp = first.stat().st_mtime_ns
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "float            done before, skipped" in out.stdout
    assert first.stat().st_mtime_ns == stamp and second.exists()
    assert json.loads(second.read_text())["result"]["comparison"]["episodes"] == 3
    assert not list(tmp_path.glob("Pendulum-v1/.*"))  # no scratch left behind


def test_the_width_rule_judges_each_family_against_the_exports_shipped_at_its_turn() -> None:
    """docs/evaluation.md: narrowest first; a family that beats issue 12's and the width-64
    finalists but not the family adopted before it is not adopted."""
    mbm = _benchmarks_md()
    envs = mbm.ENVS

    def fam(pct: float, early: int = 0) -> dict:
        return {e: (pct, early if e == envs[0] else 0) for e in envs}

    family = {"issue12": fam(90, 3), "h64_w3a3": fam(91, 9), "h128_w3a3": fam(94, 3),
              "h256_w3a3": fam(93, 1)}
    text = mbm._width_rule(family)
    assert "h128_w3a3 94.0 % (3): **replaces the recipe**" in text
    assert "h256_w3a3 93.0 % (1) (against the shipped h128_w3a3): not adopted" in text
    # more early ends than the shipped family loses even with the higher mean
    family["h256_w3a3"] = fam(96, 4)
    assert "(against the shipped h128_w3a3): not adopted" in mbm._width_rule(family)
    # an RL family is judged after the widths, against what they left shipped
    family["h64_w3a3_rl20000"] = fam(95, 2)
    assert ("h64_w3a3_rl20000 95.0 % (2) (against the shipped h128_w3a3): **replaces"
            in mbm._width_rule(family))
    family["h64_w3a3_rl20000"] = fam(93.5, 2)
    assert ("h64_w3a3_rl20000 93.5 % (2) (against the shipped h128_w3a3): not adopted"
            in mbm._width_rule(family))
    # a winner that models/ does not hold is said to be pending, not claimed shipped
    family["h512_w3a3"] = fam(97, 2)
    text = mbm._width_rule(family)
    assert "h512_w3a3 97.0 % (2) (against the shipped h128_w3a3): **replaces the recipe**" in text
    assert "re-exporting h512_w3a3" in text and "is pending" in text


def test_qat_w2_is_the_recipes_width_and_a_stale_one_is_said_pending(monkeypatch) -> None:
    """docs/evaluation.md: qat_w2 is the 2-bit family at the width the rule chose for
    qat_w3; the 2-bit families' means are reported, never used to choose."""
    mbm = _benchmarks_md()
    family = {"h128_w2a3": {e: (90.0, 2) for e in mbm.ENVS},
              "h256_w2a3": {e: (80.0, 0) for e in mbm.ENVS[:3]}}
    shapes = {"qat_w3": {(256, 256)}, "qat_w2": {(256, 256)}}
    monkeypatch.setattr(mbm, "_shipped_shapes", lambda name: shapes[name])
    text = mbm._w2_families(family)
    assert "shipped [256, 256]" in text and "pending" not in text
    assert "h128_w2a3 90.0 % (12 early ends); h256_w2a3 measured on 3 of 6 tasks" in text
    shapes["qat_w2"] = {(128, 128)}
    assert "re-exporting `qat_w2` as h256_w2a3 is pending" in mbm._w2_families(family)


def test_an_rl_cell_is_judged_against_its_own_distillation_on_validation(
        tmp_path: Path) -> None:
    """Issue 33: per task, whether TD3 after the distillation beat the distillation alone: the
    cell's distilled finalists against its RL exports on the same selection episodes."""
    mbm = _benchmarks_md()
    folder = tmp_path / "Hopper-v5"
    folder.mkdir()
    (folder / "float.nested.json").write_text(json.dumps({"mean": 3000.0}))
    (folder / "h64_w3a3_rl20000.nested.json").write_text(json.dumps({"mean": 2850.0}))
    costs = folder / "h64_w3a3_rl20000.costs.json"
    costs.write_text("{}")

    def finalists(kept: str) -> None:
        returns = {"iteration 12": 2700.0, "average of iteration 56..iteration 60": 2650.0,
                   "rl step 8000": 2800.0, "average of rl step 12000..rl step 20000": 2500.0}
        if kept == "iteration 12":
            returns["rl step 8000"] = 2600.0
        (folder / "h64_w3a3_rl20000.json").write_text(json.dumps({"selection": {"finalists": [
            {"candidate": name, "selection_return": r, "chosen": name == kept}
            for name, r in returns.items()]}}))

    finalists("rl step 8000")
    assert mbm._rl_against_distillation(costs) == (
        "Hopper-v5: RL kept (2800.0 against the distillation's 2700.0), 95.0 % of float on "
        "10100..10199")
    finalists("iteration 12")
    assert mbm._rl_against_distillation(costs) == (
        "Hopper-v5: distilled kept (2700.0; RL's exports at most 2600.0), 95.0 % of float on "
        "10100..10199")


def test_the_closed_loop_summaries_measured_the_exports_shipped_now(
        tmp_path: Path, monkeypatch) -> None:
    """BENCHMARKS.md's closed-loop section stays true to models/: a summary whose exports were
    replaced since is marked, and the committed summaries are of the shipped exports."""
    mbm = _benchmarks_md()
    for env in ("Pendulum-v1", "InvertedPendulum-v5"):
        assert mbm._replaced_exports(env) == [], \
            f"{env}: exports replaced since the summary; run benchmarks/closed_loop.sh"
    models, results = tmp_path / "models" / "Pendulum-v1", tmp_path / "results"
    models.mkdir(parents=True)
    results.mkdir()
    (models / "qat_w3.qhil").write_bytes(b"new")
    (models / "qat_w2.qhil").write_bytes(b"same")
    (results / "bench_Pendulum-v1.blobs").write_text(
        f"{'0' * 64}  models/Pendulum-v1/qat_w3.qhil\n"
        f"{hashlib.sha256(b'same').hexdigest()}  models/Pendulum-v1/qat_w2.qhil\n"
        f"{'1' * 64}  models/Pendulum-v1/gone.qhil\n")
    monkeypatch.setattr(mbm, "ROOT", tmp_path)
    monkeypatch.setattr(mbm, "RESULTS", results)
    assert mbm._replaced_exports("Pendulum-v1") == ["gone", "qat_w3"]
    assert mbm._replaced_exports("InvertedPendulum-v5") == ["not recorded"]


def test_qat_w3a4_is_the_best_whole_4_bit_activation_family(monkeypatch) -> None:
    """docs/evaluation.md: of the 4-bit-activation families measured on all six tasks, the
    highest mean validation % of float ships as qat_w3a4; a family on fewer tasks is not
    judged, and a shipped qat_w3a4 of another width is said to be pending."""
    mbm = _benchmarks_md()
    family = {"h64_w3a4": {e: (97.0, 2) for e in mbm.ENVS},
              "h256_w3a4": {e: (99.0, 0) for e in mbm.ENVS[:4]}}
    shipped = {(64, 64)}
    monkeypatch.setattr(mbm, "_shipped_shapes", lambda name: shipped)
    text = mbm._a4_families(family)
    assert "h256_w3a4 measured on 4 of 6 tasks, not judged yet. Highest: h64_w3a4." in text
    family["h256_w3a4"] = {e: (98.0, 3) for e in mbm.ENVS}
    assert mbm._a4_families(family).endswith(
        "Highest: h256_w3a4; re-exporting `qat_w3a4` as h256_w3a4 is pending.")
    shipped = {(256, 256)}
    assert mbm._a4_families(family).endswith("Highest: h256_w3a4.")
