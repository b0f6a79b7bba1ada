"""TFLite int8 policies beside qhil's own int8 of the same float policy -> results/tflite/.

    .venv/bin/python benchmarks/tflite_side_by_side.py [--envs Pendulum-v1,HalfCheetah-v5]
        [--target qemu-m4] [--episodes 100]

Per task (models/<env>, the float policy of every other table):

- ``tflite_ptq``: ``qhil export --tflite`` of the float actor (TFLite's converter's recipe:
  per-tensor float input, per-channel int8 weights, int8 activations from 20 calibration
  rollouts), as its .tflite and as the same model in a qhil blob;
- ``tflite_converter`` (Pendulum only): tests/fixtures/tflite/pendulum_relu_pc.tflite, made
  by TensorFlow's own converter from the same actor (make_fixtures.py), through ``qhil
  import --tflite``;
- ``int8``: qhil's own post-training int8 (per-feature input steps, one rounding),
  calibrated by ``qhil bench`` on the same fit seeds.

One ``qhil bench`` per task runs them all on the emulated core, on the 100 test seeds
(docs/evaluation.md), every device answer checked against the golden executor; tflite
variants run on the firmware's portable tflite kernel (plain C: no DSP or Helium loop yet).
``summary.json`` collects return, % of float with its interval, instructions per
inference, blob and weight bytes and the LiteRT agreement of each export.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from qhil.tflite.export import export_tflite

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "tflite"
CONVERTER_FIXTURE = ROOT / "tests" / "fixtures" / "tflite" / "pendulum_relu_pc.tflite"
QHIL = [sys.executable, "-m", "qhil.cli.main"]


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd[2:]), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def side_by_side(env: str, target: str, episodes: int) -> dict[str, object]:
    out = OUT / env
    out.mkdir(parents=True, exist_ok=True)
    model = ROOT / "models" / env
    exported = export_tflite(model, out / "tflite_ptq.tflite")  # what qhil export --tflite does
    blobs = [exported.blob]
    checks: dict[str, object] = {"tflite_ptq": exported.check}
    if env == "Pendulum-v1":
        folder = out / "converter"
        shutil.rmtree(folder, ignore_errors=True)
        run(QHIL + ["import", "--tflite", str(CONVERTER_FIXTURE), "--env", env,
                    "--test-episodes", "2", "-o", str(folder)])
        shutil.copy(folder / "tflite.qhil", out / "tflite_converter.qhil")
        checks["tflite_converter"] = json.loads((folder / "meta.json").read_text())["source"]["check"]
        blobs.append(out / "tflite_converter.qhil")
    bench = out / "bench"
    shutil.rmtree(bench, ignore_errors=True)
    cmd = QHIL + ["bench", "--model", str(model), "--variants", "float,int8", "--target", target,
                  "--episodes", str(episodes), "-o", str(bench)]
    for b in blobs:
        cmd += ["--blob", str(b)]
    run(cmd)
    report = json.loads((bench / "report.json").read_text())
    rows = []
    for v in report["variants"]:
        rows.append({
            "variant": v["name"], "arithmetic": v.get("arithmetic"),
            "return": v["return"]["mean"], "return_std": v["return"]["std"],
            "percent_of_float": v.get("percent_of_float"),
            "interval95": v.get("percent_of_float_interval95"),
            "instructions": (v.get("device_cost") or {}).get("median"),
            "per_mac": (v.get("device_cost") or {}).get("per_mac"),
            "blob_bytes": v["sizes"]["blob_bytes"], "weight_bytes": v["sizes"]["weight_bytes"],
            "bit_exact": v.get("bit_exact"), "early_terminations": v["early_terminations"]})
    return {"env": env, "target": target, "episodes": episodes,
            "seeds": f"{report['seeds'][0]}..{report['seeds'][-1]}",
            "kernel": report["target"].get("kernel"), "rows": rows, "checks": checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="Pendulum-v1,HalfCheetah-v5")
    parser.add_argument("--target", default="qemu-m4")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    summary = [side_by_side(env, args.target, args.episodes) for env in args.envs.split(",")]
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
