"""An imported PPO policy (Tanh hidden layers, SB3's default MlpPolicy) through qhil.

    .venv/bin/python benchmarks/imported_ppo.py train   # SB3 PPO -> models/ppo-<task>/ppo.zip
    .venv/bin/python benchmarks/imported_ppo.py run     # import, PTQ, QAT, device -> results

``train`` stands in for a user's own training: stable-baselines3's PPO with its default
``MlpPolicy`` ([64, 64] Tanh), rl-baselines3-zoo's Pendulum hyperparameters, SB3's
defaults for InvertedDoublePendulum, ``VecNormalize`` on both, fit seed 0, a fixed step
budget and the final policy (nothing selected, so no validation or test seed is involved).

``run`` does what a user would: ``qhil import --sb3 ... --vecnormalize ...`` (float test
return on the held-out protocol), then on the same 100 test episodes the golden integer
policy at int8 and w4a4 (``qhil eval --blob``, post-training quantization), the QAT recipe
at 3 bits (``qhil qat``, benchmarks/qat_recipe.sh's ``qat_w3`` bits; it chooses the input
width and the iteration on validation seeds only) and a short closed loop of all three on
qemu-m4 (bit-exactness and cost). Results: benchmarks/results/imported_ppo/<task>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "imported_ppo"
QHIL = [sys.executable, "-m", "qhil.cli.main"]
TASKS: dict[str, dict[str, object]] = {
    # rl-baselines3-zoo hyperparams/ppo.yml, Pendulum-v1
    "Pendulum-v1": {"steps": 100_000, "n_envs": 4, "kwargs": {
        "n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "n_epochs": 10, "ent_coef": 0.0,
        "learning_rate": 1e-3, "clip_range": 0.2, "use_sde": True, "sde_sample_freq": 4}},
    # stable-baselines3's PPO defaults (the PPO paper's MuJoCo settings)
    "InvertedDoublePendulum-v5": {"steps": 500_000, "n_envs": 1, "kwargs": {}},
}
QAT_BITS = "w=3 a=3,3,8 in=auto"  # benchmarks/qat_recipe.sh's qat_w3


def folder(task: str) -> Path:
    return ROOT / "models" / f"ppo-{task}"


def train(task: str) -> None:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    spec = TASKS[task]
    torch.set_num_threads(1)
    out = folder(task)
    out.mkdir(parents=True, exist_ok=True)
    venv = VecNormalize(make_vec_env(task, n_envs=int(spec["n_envs"]), seed=0))  # type: ignore[call-overload]
    start = time.perf_counter()
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", **spec["kwargs"])  # type: ignore[arg-type]
    model.learn(int(spec["steps"]))  # type: ignore[call-overload]
    model.save(out / "ppo.zip")
    venv.save(str(out / "vecnormalize.pkl"))
    (out / "training.json").write_text(json.dumps({
        "algo": "stable-baselines3 PPO, MlpPolicy", "steps": spec["steps"], "seed": 0,
        "n_envs": spec["n_envs"], "hyperparameters": spec["kwargs"], "vecnormalize": True,
        "wall_time_s": round(time.perf_counter() - start, 1)}, indent=2) + "\n")
    print(f"{task}: trained in {time.perf_counter() - start:.0f} s")


def _run(*args: str) -> str:
    print("$ qhil", " ".join(args), flush=True)
    proc = subprocess.run([*QHIL, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"qhil {args[0]} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout + proc.stderr


def run(task: str) -> None:
    out = folder(task)
    rel = out.relative_to(ROOT)
    result: dict[str, object] = {"task": task, "model": str(rel),
                                 "training": json.loads((out / "training.json").read_text())}
    start = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    _run("-q", "import", "--sb3", f"{rel}/ppo.zip", "--vecnormalize", f"{rel}/vecnormalize.pkl",
         "--env", task, "-o", str(rel))
    meta = json.loads((out / "meta.json").read_text())
    result["float"] = {k: meta["eval"][k] for k in ("episodes", "seeds", "mean", "std",
                                                   "early_terminations")}
    result["import_check"] = meta["source"]
    cells: dict[str, object] = {}
    for bits in ("int8", "w4a4"):
        _run("-q", "quantize", "--model", str(rel), "--bits", bits, "-o", f"{rel}/ptq_{bits}.qhil")
        report = RESULTS / f"{task}_ptq_{bits}.json"
        _run("-q", "eval", "--model", str(rel), "--blob", f"{rel}/ptq_{bits}.qhil",
             "--json", str(report))
        cells[bits] = json.loads(report.read_text())
    _run("-q", "qat", "--model", str(rel), "--bits", QAT_BITS, "-o", f"{rel}/qat_w3.qhil")
    cells["qat_w3"] = json.loads((out / "qat_w3.json").read_text())
    bench = RESULTS / f"{task}_bench"
    _run("-q", "bench", "--model", str(rel), "--target", "qemu-m4", "--variants", "float",
         "--blob", f"{rel}/ptq_int8.qhil", "--blob", f"{rel}/ptq_w4a4.qhil",
         "--blob", f"{rel}/qat_w3.qhil", "--episodes", "3", "-o", str(bench))
    result["cells"] = cells
    report = json.loads((bench / "report.json").read_text())
    result["device"] = [{"name": v["name"], "bits": v["bits"], "bit_exact": v["bit_exact"],
                         "device_cost": v["device_cost"], "sizes": v["sizes"]}
                        for v in report["variants"] if v["kind"] == "device-int"]
    result["wall_time_s"] = round(time.perf_counter() - start, 1)
    (RESULTS / f"{task}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{task}: done in {result['wall_time_s']} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("train", "run"))
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks")
    args = parser.parse_args()
    for task in args.tasks.split(","):
        (train if args.step == "train" else run)(task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
