"""Assemble BENCHMARKS.md from benchmarks/results/* and models/*/meta.json.

    .venv/bin/python benchmarks/make_benchmarks_md.py

Every number in BENCHMARKS.md comes from a result file written by the command named
above its section; nothing is typed in by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ENVS = ["Pendulum-v1", "InvertedPendulum-v5", "InvertedDoublePendulum-v5", "Hopper-v5",
        "HalfCheetah-v5", "Walker2d-v5"]


def float_baselines() -> str:
    lines = ["## Float baselines", "",
             "Command: `benchmarks/train_baselines.sh` (stable-baselines3 TD3, actor [64, 64] ReLU, "
             "best actor on validation seeds 10000..; test return over 20 deterministic episodes, "
             "seeds 0..19). Wall times were measured with 3-4 training jobs sharing the 2 cores.",
             "", "| task | algo | steps | wall | test return | critic |", "|---|---|---|---|---|---|"]
    for env in ENVS:
        meta_path = ROOT / "models" / env / "meta.json"
        if not meta_path.is_file():
            lines.append(f"| {env} | - | - | - | not trained yet | - |")
            continue
        m = json.loads(meta_path.read_text())
        t = m["train"]
        lines.append(f"| {env} | {m['algo']} | {t['steps']:,} | {t['wall_time_s'] / 60:.1f} min | "
                     f"{m['eval']['mean']:.1f} ± {m['eval']['std']:.1f} | "
                     f"{t['hyperparameters'].get('critic_net')} |")
    return "\n".join(lines) + "\n"


def ptq_tables() -> str:
    lines = ["## Post-training quantization", "",
             "Command: `benchmarks/ptq_tables.sh` (`qhil sweep-bits`, golden integer executor, 20 "
             "episodes on seeds 0..19, calibration on 20 noisy rollouts with seeds 20000..; "
             "per-channel MSE-clipped weights, per-feature input steps, 99.99th-percentile "
             "activation ranges at 5-8 bits, MSE-optimal ranges at 2-4 bits). Settings: `wXaY` = "
             "X-bit weights and Y-bit activations in every "
             "layer (8-bit inputs); `w=8,3,8` = 8-bit first and last layer. % of float: 100 is "
             "parity, lower is worse.", ""]
    rows_by_env = {}
    for env in ENVS:
        path = RESULTS / f"ptq_{env}.json"
        if path.is_file():
            rows_by_env[env] = {r["setting"]: r for r in json.loads(path.read_text())["rows"]}
    if not rows_by_env:
        return "\n".join(lines + ["(not measured yet)"]) + "\n"
    settings = list(next(iter(rows_by_env.values())))
    envs = list(rows_by_env)
    lines.append("| setting | " + " | ".join(envs) + " |")
    lines.append("|---" * (len(envs) + 1) + "|")
    for s in settings:
        cells = []
        for env in envs:
            r = rows_by_env[env].get(s)
            cells.append("-" if r is None else f"{r['mean']:.0f} ({r['percent_of_float']:.0f}%)")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "Weight bytes (Pendulum size / HalfCheetah size) are in "
              "`benchmarks/results/ptq_<env>.json`; plots in `ptq_<env>.png`."]
    return "\n".join(lines) + "\n"


def qat_results() -> str:
    lines = ["## Quantization-aware training", "",
             "Commands: `qhil qat --model models/<env> --bits \"w=3,3,3 a=3,3,8 in=12\" -o "
             "models/<env>/qat_w3a3.qhil` (3-bit weights in every layer) and `--bits "
             "\"w=3,3,8 a=3,3,8 in=12\" -o models/<env>/qat_w3a3_out8.qhil` (3-bit hidden "
             "layers, the output layer's weights at 8 bits); DAgger distillation, the "
             "iteration count and learning rate of each run are in its sidecar JSON (`args`). "
             "Exports are chosen on 10 validation episodes, seeds 10000..; test return on seeds "
             "0..19. Activations are 3-bit in every hidden layer; the 8-bit code is the tanh "
             "table index. Agreement: share of visited states where the exported blob's golden "
             "actions equal the training simulation's.", "",
             "| task | bits | PTQ (validation) | QAT (validation) | QAT test return | % of float "
             "| agreement | weight B | wall |", "|---|---|---|---|---|---|---|---|---|"]
    found = False
    for env in ENVS:
        for path in sorted((ROOT / "models" / env).glob("qat_*.json")):
            found = True
            q = json.loads(path.read_text())
            lines.append(
                f"| {env} | {q['bits']} | {q['ptq_validation_return']:.1f} | "
                f"{q['best_validation_return']:.1f} | {q['test']['mean']:.1f} ± "
                f"{q['test']['std']:.1f} | {q['percent_of_float']:.1f} | "
                f"{100 * q['agreement_with_simulation']:.2f}% | {q['weight_bytes']} | "
                f"{q['wall_time_s']:.0f} s |")
    if not found:
        lines.append("| (none yet) |")
    return "\n".join(lines) + "\n"


def closed_loop() -> str:
    lines = ["## Closed loop on qemu-m4 (`make demo`)", "",
             "Command: `benchmarks/closed_loop.sh` (runs `make demo`: 10 episodes per variant, "
             "seeds 0..9; every device answer of an "
             "integer variant compared with the golden executor). Round trips are host-side "
             "through QEMU's socket and the Python client; device cost is executed "
             "instructions.", ""]
    found = False
    for env in ENVS:
        path = RESULTS / f"bench_{env}.md"
        if path.is_file():
            found = True
            lines += [path.read_text().split("\n", 2)[2].strip(), ""]
    if not found:
        lines.append("(not measured yet)")
    return "\n".join(lines) + "\n"


def host_overhead() -> str:
    path = RESULTS / "host_overhead.json"
    lines = ["## Closed-loop speed", "",
             "Command: `.venv/bin/python benchmarks/host_overhead.py` (Pendulum int8, 4000 steps; "
             "host overhead = step time - env.step - device round trip).", ""]
    if not path.is_file():
        return "\n".join(lines + ["(not measured yet)"]) + "\n"
    lines += ["| target | steps/s | env.step us | round trip us | host overhead us |",
              "|---|---|---|---|---|"]
    for r in json.loads(path.read_text()):
        lines.append(f"| {r['target']} | {r['steps_per_s']:,.0f} | {r['env_step_us']} | "
                     f"{r['round_trip_us']} | {r['host_overhead_us']} |")
    return "\n".join(lines) + "\n"


def qemu_rtt() -> str:
    path = RESULTS / "qemu_rtt.json"
    lines = ["### What a QEMU round trip is made of", "",
             "Command: `.venv/bin/python benchmarks/qemu_rtt.py` (INFER round trips, median of "
             "100, of an int8 [n, 64, 64, 1] policy; instructions from the device's counter).",
             ""]
    if not path.is_file():
        return "\n".join(lines + ["(not measured yet)"]) + "\n"
    lines += ["| target | -icount | inputs | request bytes | RTT p50 ms | instructions |",
              "|---|---|---|---|---|---|"]
    for r in json.loads(path.read_text()):
        lines.append(f"| {r['target']} | `{r['icount']}` | {r['inputs']} | {r['request_bytes']} | "
                     f"{r['rtt_ms_p50']:.2f} | {r['instructions']:,} |")
    return "\n".join(lines) + "\n"


def golden_speed() -> str:
    path = RESULTS / "golden_speed.json"
    lines = ["## Golden executor speed", "",
             "Command: `.venv/bin/python benchmarks/golden_speed.py` (best of 3; targets: "
             "≥ 20k single-observation inferences/s, ≥ 1M/s batched, on a [64, 64] policy).", ""]
    if not path.is_file():
        return "\n".join(lines + ["(not measured yet)"]) + "\n"
    data = json.loads(path.read_text())
    lines += [f"Machine: {data.get('note', data.get('machine', ''))}", "",
              "| layers | bits | single / s | batched / s |", "|---|---|---|---|"]
    for r in data["rows"]:
        lines.append(f"| {r['sizes']} | {r['bits']} | {r['single_per_s']:,} | "
                     f"{r['batched_per_s']:,} |")
    return "\n".join(lines) + "\n"


def firmware() -> str:
    path = RESULTS / "firmware.md"
    lines = ["## Firmware: cost, kernel throughput, link, memory", "",
             "Command: `.venv/bin/python benchmarks/firmware_cost.py`. Cost per inference is the "
             "device's own counter around the policy call (median of 21 BENCH repeats): "
             "**instructions** under QEMU (`-icount shift=7`; timers tick 2.048x-128x per "
             "instruction, so readings of one count vary by at most 0.1 %), ns on native. Models "
             "are random at the Pendulum [3,64,64,1] and HalfCheetah [17,64,64,6] sizes; counts "
             "do not depend on weight values. float32 does not fit the 9 KB RAM arena of the "
             "16 KB micro:bit: on qemu-m0 it runs compiled into flash (`qemu-m0-builtin`, "
             "marked 'from flash'). RTT is timed on the host through the Python client on a "
             "quiet machine.", ""]
    if not path.is_file():
        return "\n".join(lines + ["(not measured yet)"]) + "\n"
    return "\n".join(lines) + "\n" + path.read_text()


def qat_goal() -> str:
    lines = ["## Issue #6 goal: <= 3-bit hidden layers on qemu-m4", "",
             "Command: `benchmarks/qat_goal.sh`. Each shipped model's export with 3-bit "
             "weights and 3-bit activations in every hidden layer (`qat_w3a3_out8` keeps the "
             "output layer's weights at 8 bits; `qat_w3a3` has 3-bit weights everywhere) runs "
             "closed loop on qemu-m4 against the float policy on the host: 20 episodes, seeds "
             "0..19, every device answer compared with the golden executor.", "",
             "| task | export | bits | float return | device return | % of float | "
             "bit-exact steps | instructions / action |", "|---|---|---|---|---|---|---|---|"]
    met = 0
    found = False
    for env in ENVS:
        path = RESULTS / f"goal_{env}.json"
        if not path.is_file():
            continue
        found = True
        rep = json.loads(path.read_text())
        by_kind = {v["kind"]: v for v in rep["variants"]}
        f, q = by_kind["host-float"], by_kind["device-int"]
        exact = q["bit_exact"]
        met += q["percent_of_float"] >= 95 and exact["mismatches"] == 0
        lines.append(f"| {env} | {q['name']} | {q['bits']} | {f['return']['mean']:.1f} | "
                     f"{q['return']['mean']:.1f} ± {q['return']['std']:.1f} | "
                     f"{q['percent_of_float']:.1f} | {exact['checked_steps']:,} "
                     f"({exact['mismatches']} mismatches) | {q['device_cost']['median']:,.0f} |")
    if not found:
        return "\n".join(lines[:2] + ["(not measured yet)"]) + "\n"
    lines += ["", f"Tasks at >= 95 % of float, bit-exact: **{met} of {len(ENVS)}** (goal: 5)."]
    lines += ["", "### Observation noise: float vs quantized", "",
              "Command: the second half of `benchmarks/qat_goal.sh` (native target, 10 episodes, "
              "Gaussian noise with std = level x each feature's scale, the same noise sequence "
              "for both). % of the clean float return.", "",
              "| task | float 0 / 0.05 / 0.1 | quantized 0 / 0.05 / 0.1 |", "|---|---|---|"]
    for env in ENVS:
        path = RESULTS / f"noise_{env}.json"
        if not path.is_file():
            continue
        rep = json.loads(path.read_text())
        cells = []
        for v in rep["variants"]:
            pct = [v["percent_of_float"]] + [s["percent_of_float"] for s in v["noise"].values()]
            cells.append(" / ".join(f"{p:.0f}" for p in pct))
        lines.append(f"| {env} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _worst(cell: dict[tuple[str, int], float], parts: list[str], bits: int) -> str:
    vals = [cell[(p, bits)] for p in parts if (p, bits) in cell]
    return f"{min(vals):.0f}" if vals else "-"


def sensitivity() -> str:
    lines = ["## Sensitivity and the precision ablation", "",
             "Command: `benchmarks/sensitivity_all.sh` (`qhil sensitivity`, 3 validation "
             "episodes per probe). One part at a time is post-training quantized, the rest "
             "kept at 8 bits with 16-bit inputs; cells are % of float. *input* is the input "
             "width; *internal* the worst hidden part (weights w0, w1 and activations a0, a1); "
             "*output* the worst of the output layer's weights w2 and the tanh-table index "
             "a2. Heatmaps: `benchmarks/results/sensitivity_<env>.png`.", "",
             "| task | input 16 / 10 / 8 / 6 / 4 | internal 8 / 4 / 3 / 2 | output 8 / 4 / 3 / 2 | "
             "most sensitive part at 3 bits |", "|---|---|---|---|---|"]
    found = False
    for env in ENVS:
        path = RESULTS / f"sensitivity_{env}.json"
        if not path.is_file():
            continue
        found = True
        rows = json.loads(path.read_text())
        cell = {(r["part"], r["bits"]): r["percent_of_float"] for r in rows}
        n = max(int(r["part"][1:]) for r in rows if r["part"] != "in") + 1
        internal = [f"w{i}" for i in range(n - 1)] + [f"a{i}" for i in range(n - 1)]
        output = [f"w{n - 1}", f"a{n - 1}"]

        inp = " / ".join(f"{cell[('in', b)]:.0f}" if ("in", b) in cell else "-"
                         for b in (16, 10, 8, 6, 4))
        at3 = [(cell[(p, 3)], p) for p in internal + output if (p, 3) in cell]
        weakest = min(at3)[1] if at3 else "-"
        lines.append(f"| {env} | {inp} | "
                     + " / ".join(_worst(cell, internal, b) for b in (8, 4, 3, 2)) + " | "
                     + " / ".join(_worst(cell, output, b) for b in (8, 4, 3, 2))
                     + f" | {weakest} |")
    if not found:
        lines.append("(not measured yet)")
    return "\n".join(lines) + "\n"


def autoquant() -> str:
    lines = ["## Automatic width selection (`qhil autoquant`)", "",
             "Command: `benchmarks/autoquant.sh` (defaults: sensitivity with 5 validation "
             "episodes per probe, widths 2/3/4/6/8 and inputs 4..16, 3 candidates, 12 DAgger "
             "iterations each, one bit-exact closed-loop episode per candidate on qemu-m4). "
             "Wall time is the whole pipeline on 2 cores (targets: 5 min Pendulum, 30 min "
             "HalfCheetah). Pareto plots: `benchmarks/results/autoquant_<env>_pareto.png`.", "",
             "| task | budget | chosen bits | weight B | test % of float | device check | "
             "candidates (% of float) | wall |", "|---|---|---|---|---|---|---|---|"]
    found = False
    for env in ENVS:
        path = RESULTS / f"autoquant_{env}.json"
        if not path.is_file():
            continue
        found = True
        s = json.loads(path.read_text())
        c = s["candidates"][s["chosen"]]
        dev = c["device"]
        dev_txt = (f"{dev['steps']} steps, {dev['mismatches']} mismatches, "
                   f"{dev['cost_median']:,.0f} {dev['unit']}") if dev else "-"
        others = ", ".join(f"{o['bits']}: {o['percent_of_float']:.0f}" for o in s["candidates"])
        lines.append(f"| {env} | {s['budget']} | {c['bits']} | {c['weight_bytes']:.0f} | "
                     f"{c['percent_of_float']:.1f} | {dev_txt} | {others} | "
                     f"{s['wall_time_s'] / 60:.1f} min |")
    if not found:
        lines.append("(not measured yet)")
    return "\n".join(lines) + "\n"


def fuzzing() -> str:
    path = RESULTS / "fuzz.json"
    lines = ["## Fuzzing the firmware", "",
             "Command: `make fuzz` (`tools/fuzz.py run --seconds 600`: both libFuzzer targets "
             "at once, built from the firmware's sources with clang 14 "
             "`-fsanitize=fuzzer,address,undefined`). Goal: ≥ 1M frames and ≥ 100k blobs "
             "without a crash or a hang. *Frames* counts every delimited frame fed to the "
             "parser (an input holds many); *blobs* counts loader calls (each input is loaded "
             "as is and once more with its size field and CRC repaired, so mutations reach "
             "the field rules); an accepted blob is then run with both kernels. "
             "`tests/test_fuzz.py` replays the kept corpus through the host's reader: every blob "
             "the reader accepts, the loader accepts with the same shape, and the loader accepts "
             "nothing the reader refuses except for host-only fields (metadata, host section).",
             ""]
    if not path.is_file():
        return "\n".join(lines + ["(not measured yet)"]) + "\n"
    data = json.loads(path.read_text())
    lines += ["| target | seconds | inputs | inputs/s | counted | accepted | corpus | result |",
              "|---|---|---|---|---|---|---|---|"]
    for c in data["campaigns"]:
        lines.append(f"| {c['target']} | {c['seconds']:.0f} | {c['executions']:,} | "
                     f"{c['exec_per_s']:,.0f} | {c['units']:,} {c['unit']} | "
                     f"{'-' if c['accepted'] is None else format(c['accepted'], ',')} | "
                     f"{c['corpus_files']} | {'CRASH' if c['crashed'] else 'clean'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parts = ["# qhil benchmarks", "",
             "Generated by `benchmarks/make_benchmarks_md.py` from `benchmarks/results/` and "
             "`models/*/meta.json`. Machine: 2 cores, Debian 12, QEMU 7.2, "
             "arm-none-eabi-gcc 12.2, Python 3.11, torch 2.13.0 CPU.", "",
             float_baselines(), ptq_tables(), qat_results(), qat_goal(), sensitivity(),
             autoquant(),
             closed_loop(), host_overhead(), qemu_rtt(),
             golden_speed(), firmware(), fuzzing()]
    extra = RESULTS / "notes.md"
    if extra.is_file():
        parts.append(extra.read_text())
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
