"""On-device cost, link latency and memory per target -> benchmarks/results/firmware.{json,md}.

    .venv/bin/python benchmarks/firmware_cost.py [--targets native,qemu-m4] [--rtt 500]

Cost is the device's own counter around the policy call (BENCH, median of 21 repeats):
instructions under QEMU (-icount shift=7, exact up to the timer's tick phase), ns on
native. Models are random at the Pendulum [3,64,64,1] and HalfCheetah [17,64,64,6] sizes:
instruction counts do not depend on weight values. Blobs are laid out for the kernel the
device names in HELLO and read where they are stored, as ``qhil bench`` runs them; on
targets whose kernel can widen the weights at load (the DSP kernel) each cell is measured
again with the widen flag (``--widen-weights``), and on the DSP and Helium kernels with
the compact flag (``--compact-load``: nothing kept at load), with the arena bytes each way. A model
too big for a target's RAM arena is measured compiled into flash where the target has a
-builtin build (qemu-m0). Round trips are INFER requests timed on the host (Python client
included), so they depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from qhil.common.actor import FloatActor
from qhil.common.errors import DeviceError
from qhil.link.framing import LoadPrep
from qhil.quant.blob import device_blob, write_blob
from qhil.quant.cheader import blob_to_c_header
from qhil.quant.config import parse_bits
from qhil.quant.layout import KernelOrder
from qhil.quant.random_model import random_input_codes, random_quant_model
from qhil.targets import TARGETS, start_target
from qhil.targets.firmware import FIRMWARE_DIR, build_firmware, elf_memory, firmware_source_hash

OUT = Path(__file__).resolve().parent / "results"
SIZES = {"pendulum": [3, 64, 64, 1], "halfcheetah": [17, 64, 64, 6]}
SETTINGS = ["int8", "w4a4", "w3a3", "w2a2", "float32"]
#: Kernels that keep something at load (starting sums, requantization records), measured
#: again with LOAD's compact flag.
KEEPS_AT_LOAD = ("DSP", "Helium")
DEFAULT_TARGETS = ["native", "qemu-m0", "qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33",
                   "qemu-m55", "qemu-rv32", "qemu-stm32f4", "qemu-m0-clang", "qemu-m3-clang",
                   "qemu-m4-clang", "qemu-m55-clang"]


def float_actor(sizes: list[int]) -> FloatActor:
    rng = np.random.default_rng(0)
    ws = tuple(rng.normal(0, 0.3, size=(b, a)).astype(np.float32)
               for a, b in zip(sizes, sizes[1:], strict=False))
    bs = tuple(np.zeros(b, np.float32) for b in sizes[1:])
    n, k = sizes[0], sizes[-1]
    return FloatActor(ws, bs, np.zeros(n), np.ones(n), np.inf, -np.ones(k), np.ones(k), "tanh")


def measure(name: str, rtt_count: int) -> dict[str, object]:
    row: dict[str, object] = {"target": name, "firmware_sha256": firmware_source_hash()}
    with start_target(name, timeout=5.0) as target:
        dev = target.device
        info = dev.info
        assert info is not None
        row.update(board=info.board, cpu=info.cpu, unit=info.cost_kind, kernel=info.kernel)
        memory = target.memory()
        if memory is not None:
            row["memory"] = memory
        costs: dict[str, dict[str, object]] = {}
        for size_name, sizes in SIZES.items():
            macs = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
            for setting in SETTINGS:
                key = f"{size_name}/{setting}"
                rng = np.random.default_rng(1)
                if setting == "float32":
                    blob = write_blob(float_actor(sizes))
                    x = rng.normal(size=sizes[0]).astype(np.float32)
                else:
                    model = random_quant_model(rng, sizes, parse_bits(setting, len(sizes) - 1))
                    blob = write_blob(model)
                    x = random_input_codes(rng, model, 1)[0]
                blob = device_blob(blob, info.weight_order, info.model_format)
                try:
                    loaded = dev.load(blob)
                except DeviceError as exc:
                    costs[key] = {"error": str(exc), "blob_bytes": len(blob)}
                    if f"{name}-builtin" in TARGETS:  # too big for RAM: compile it into flash
                        costs[key] = from_flash(f"{name}-builtin", blob, x, macs, setting)
                    continue
                _, med, _, _ = dev.bench(x, 21, float32=setting == "float32")
                cost = info.cost(med)
                costs[key] = {"cost": round(cost, 1), "per_mac": round(cost / macs, 3),
                              "blob_bytes": len(blob), "macs": macs,
                              "arena_bytes": loaded.bytes_used}
                if info.weight_order is KernelOrder.DSP and setting != "float32":
                    loaded = dev.load(blob, prep=LoadPrep.WIDEN)
                    cost = info.cost(dev.bench(x, 21)[1])
                    costs[key]["widened"] = {"cost": round(cost, 1),
                                             "per_mac": round(cost / macs, 3),
                                             "arena_bytes": loaded.bytes_used}
                if info.kernel in KEEPS_AT_LOAD and setting != "float32":
                    # as qhil bench --compact-load sends it: no layer padded into blocks
                    compact = device_blob(blob, info.weight_order, info.model_format,
                                          pad_free=True)
                    loaded = dev.load(compact, prep=LoadPrep.COMPACT)
                    cost = info.cost(dev.bench(x, 21)[1])
                    costs[key]["compact"] = {"cost": round(cost, 1),
                                             "per_mac": round(cost / macs, 3),
                                             "arena_bytes": loaded.bytes_used}
        row["costs"] = costs
        # Kernel MAC throughput: widen one layer's inputs with its outputs fixed, so the
        # per-row work (requantization, bias, stores) stays constant and cancels.
        marginal: dict[str, float] = {}
        for setting in SETTINGS[:-1]:
            c = []
            for n_in in (64, 192):
                model = random_quant_model(np.random.default_rng(4), [n_in, 64, 1],
                                           parse_bits(setting, 2))
                try:
                    dev.load(device_blob(write_blob(model), info.weight_order, info.model_format))
                except DeviceError:
                    break
                x = random_input_codes(np.random.default_rng(5), model, 1)[0]
                c.append(info.cost(dev.bench(x, 5)[1]))
            if len(c) == 2:
                marginal[setting] = round((c[1] - c[0]) / (128 * 64), 3)
        row["marginal_per_mac"] = marginal
        case = random_quant_model(np.random.default_rng(2), SIZES["pendulum"], parse_bits("int8", 3))
        dev.load(write_blob(case))
        x = random_input_codes(np.random.default_rng(3), case, 1)[0]
        times = []
        for _ in range(rtt_count):
            t0 = time.perf_counter()
            dev.infer(x)
            times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1e3
        row["rtt_ms"] = {"p50": round(float(np.percentile(ms, 50)), 3),
                         "p99": round(float(np.percentile(ms, 99)), 3), "n": rtt_count}
    return row


def from_flash(target_name: str, blob: bytes, x: np.ndarray, macs: int,
               setting: str) -> dict[str, object]:
    """Cost of a model compiled into the firmware (export-c header, see platformio.ini)."""
    header = FIRMWARE_DIR / ".pio" / "builtin" / "qhil_builtin_model.h"
    header.parent.mkdir(parents=True, exist_ok=True)
    header.write_text(blob_to_c_header(blob, "qhil_builtin"))
    with start_target(target_name, timeout=5.0) as target:
        dev = target.device
        dev.ensure_loaded(blob)
        _, med, _, _ = dev.bench(x, 21, float32=setting == "float32")
        assert dev.info is not None
        cost = dev.info.cost(med)
    return {"cost": round(cost, 1), "per_mac": round(cost / macs, 3), "blob_bytes": len(blob),
            "macs": macs, "where": "flash"}


def _alternative_table(rows: list[dict[str, object]], form: str, intro: str) -> list[str]:
    """Each integer cell against its measurement in another load preparation (``form``)."""
    measured = [r for r in rows if any(form in c for c in r["costs"].values())]  # type: ignore[attr-defined]
    if not measured:
        return []
    lines = ["", intro, "",
             "| target | " + " | ".join(f"{s} {k}" for s in SIZES for k in SETTINGS[:-1]) + " |",
             "|---" * (1 + len(SIZES) * (len(SETTINGS) - 1)) + "|"]
    for r in measured:
        cells = []
        for s in SIZES:
            for k in SETTINGS[:-1]:
                c = r["costs"][f"{s}/{k}"]  # type: ignore[index]
                w = c.get(form)
                cells.append(f"{c['per_mac']:.2f} -> {w['per_mac']:.2f} ({c['arena_bytes']:,}"
                             f" -> {w['arena_bytes']:,} B)" if w else "-")
        lines.append(f"| {r['target']} | " + " | ".join(cells) + " |")
    return lines


def markdown(rows: list[dict[str, object]]) -> str:
    lines = ["| target | unit | kernel | " + " | ".join(
        f"{s} {k}" for s in SIZES for k in SETTINGS) + " | RTT p50/p99 ms |",
        "|---" * (4 + len(SIZES) * len(SETTINGS)) + "|"]
    for r in rows:
        cells = []
        for s in SIZES:
            for k in SETTINGS:
                c = r["costs"][f"{s}/{k}"]  # type: ignore[index]
                flash = " from flash" if c.get("where") == "flash" else ""
                cells.append(f"{c['cost']:.0f} ({c['per_mac']:.2f}/MAC{flash})" if "cost" in c
                             else "does not fit")
        rtt = r["rtt_ms"]
        lines.append(f"| {r['target']} | {r['unit']} | {r['kernel']} | " + " | ".join(cells) +
                     f" | {rtt['p50']:.2f} / {rtt['p99']:.2f} |")  # type: ignore[index]
    intros = {
        "widened": "Stored width against `--widen-weights` (the DSP kernel's int16 copy of "
                   "every layer, else int8, else nibbles, made at load): instructions per MAC "
                   "and arena bytes (blob + starting sums + requantization records + any "
                   "copy), stored -> widened:",
        "compact": "Stored against `--compact-load` (LOAD's compact flag: the kernel keeps "
                   "nothing at load, the arena holds the blob alone; the form a board whose "
                   "arena has no room for the starting sums gets anyway): instructions per MAC "
                   "and arena bytes, stored -> compact:"}
    for form, intro in intros.items():
        lines += _alternative_table(rows, form, intro)
    lines += ["", "Kernel throughput: extra cost per MAC when a 64-output layer grows from 64 to "
              "192 inputs (per-row work constant):", "",
              "| target | " + " | ".join(SETTINGS[:-1]) + " |", "|---" * (1 + len(SETTINGS) - 1) + "|"]
    for r in rows:
        m = dict(r.get("marginal_per_mac", {}))  # type: ignore[call-overload]
        lines.append(f"| {r['target']} | " + " | ".join(
            f"{m[k]:.2f}" if k in m else "-" for k in SETTINGS[:-1]) + " |")
    lines += ["", "| env | flash bytes | static RAM bytes (incl. model arena and stack) |", "|---|---|---|"]
    for r in rows:
        if "memory" in r:
            m = r["memory"]
            lines.append(f"| {r['target']} | {m['flash']} | {m['ram']} |")  # type: ignore[index]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                        help="targets to measure; the other rows are kept from the last "
                             "results/firmware.json")
    parser.add_argument("--rtt", type=int, default=500, help="INFER round trips to time")
    args = parser.parse_args()
    names = [t for t in args.targets.split(",") if t]
    previous = OUT / "firmware.json"
    kept = {r["target"]: r for r in json.loads(previous.read_text())
            if "costs" in r and r["target"] not in names} if previous.exists() else {}
    fresh = {}
    for name in names:
        print(f"measuring {name} ...", flush=True)
        fresh[name] = measure(name, args.rtt)
    order = DEFAULT_TARGETS + [n for n in [*kept, *fresh] if n not in DEFAULT_TARGETS]
    rows = [({**kept, **fresh})[n] for n in order if n in kept or n in fresh]
    for env in ("nucleo-f446re", "blackpill-f411"):  # real boards: memory only, from the build
        rows.append({"target": env, "memory": elf_memory(build_firmware(TARGETS[env].pio_env)),
                     "firmware_sha256": firmware_source_hash()})
    measured = [r for r in rows if "costs" in r]
    OUT.mkdir(exist_ok=True)
    (OUT / "firmware.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = markdown(measured) + "".join(
        f"| {r['target']} | {r['memory']['flash']} | {r['memory']['ram']} |\n"
        for r in rows if "costs" not in r)
    (OUT / "firmware.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
