"""Estimated cycles per inference on each emulated core -> benchmarks/results/cycles.{json,md}.

    .venv/bin/python benchmarks/cycle_estimates.py [--targets qemu-m0,qemu-m4]

For each core and each setting of benchmarks/firmware_cost.py (random models of the
Pendulum [3,64,64,1] and HalfCheetah [17,64,64,6] sizes, the same seeds), QEMU traces one
inference (qhil.targets.trace) and every executed instruction is weighted by its core's
Technical Reference Manual timing (qhil.targets.cycles). Blobs are laid out for the
target's kernel and run at their stored width, as ``qhil bench`` runs them (no
``--widen-weights``). µs are at the clock of the
target's board profile (100 MHz STM32F411 for the MPS2 images, which borrow it) or the
clock the firmware reports in HELLO (16 MHz micro:bit, 20 MHz for the AN505's M33, 32 MHz
for the AN547's M55);
"with flash" adds the profile's flash wait states once per taken branch. Estimates, not
measurements: the cycles module says what they leave out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from qhil.common.errors import QhilError
from qhil.quant.blob import write_blob
from qhil.quant.config import parse_bits
from qhil.quant.random_model import random_input_codes, random_quant_model
from qhil.targets import TARGETS
from qhil.targets.firmware import firmware_source_hash
from qhil.targets.trace import trace_inference

OUT = Path(__file__).resolve().parent / "results"
SIZES = {"pendulum": [3, 64, 64, 1], "halfcheetah": [17, 64, 64, 6]}
SETTINGS = ["int8", "w4a4", "w3a3", "w2a2", "float32"]
DEFAULT_TARGETS = ["qemu-m0", "qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]


def _request(sizes: list[int], setting: str) -> tuple[bytes, np.ndarray]:
    """The blob and input of firmware_cost.py's measurement of this setting."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from firmware_cost import float_actor

    rng = np.random.default_rng(1)
    if setting == "float32":
        return write_blob(float_actor(sizes)), rng.normal(size=sizes[0]).astype(np.float32)
    model = random_quant_model(rng, sizes, parse_bits(setting, len(sizes) - 1))
    return write_blob(model), random_input_codes(rng, model, 1)[0]


def measure(target: str, work: Path) -> dict[str, object]:
    info = TARGETS[target]
    ws = info.profile.flash_wait_states if info.profile is not None else 0
    row: dict[str, object] = {"target": target, "cpu": info.cpu, "flash_wait_states": ws,
                              "firmware_sha256": firmware_source_hash()}
    cells: dict[str, object] = {}
    for size_name, sizes in SIZES.items():
        macs = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
        for setting in SETTINGS:
            blob, x = _request(sizes, setting)
            try:
                trace = trace_inference(target, blob, x, work)
            except QhilError as exc:
                cells[f"{size_name}/{setting}"] = {"error": str(exc)}
                continue
            est, summary = trace.estimate, trace.summary(info.profile)
            row["clock_hz"] = summary["clock_hz"]
            cells[f"{size_name}/{setting}"] = {
                "instructions": est.instructions, "device_instructions": trace.device_instructions,
                "cycles": est.cycles, "cycles_per_mac": round(est.cycles / macs, 3),
                "instructions_per_mac": round(est.instructions / macs, 3),
                "us": round(summary["us"], 2),
                "cycles_with_flash": summary.get("cycles_with_flash", est.cycles),
                "us_with_flash": round(summary.get("us_with_flash", summary["us"]), 2),
                "timings": est.core.table, "by_class": est.by_class}
            print(f"  {target} {size_name}/{setting}: {est.instructions} instructions, "
                  f"~{est.cycles} cycles", flush=True)
    row["cells"] = cells
    return row


def markdown(rows: list[dict[str, object]]) -> str:
    lines = ["| target (timings, clock) | setting | " + " | ".join(
        f"{s} instructions | {s} est. cycles (/MAC) | {s} µs (w/ flash)" for s in SIZES) + " |",
        "|---" * (2 + 3 * len(SIZES)) + "|"]
    for r in rows:
        cells: dict[str, dict[str, object]] = r["cells"]  # type: ignore[assignment]
        first = next(c for c in cells.values() if "timings" in c)
        ws = f", {r['flash_wait_states']} WS" if r["flash_wait_states"] else ""
        label = f"{r['target']} ({first['timings']}, {int(r['clock_hz']) / 1e6:g} MHz{ws})"  # type: ignore[call-overload]
        for k in SETTINGS:
            out = []
            for s in SIZES:
                c = cells[f"{s}/{k}"]
                if "cycles" not in c:
                    out += ["does not load", "-", "-"]
                    continue
                flash = (f" ({c['us_with_flash']:,.1f})" if c["cycles_with_flash"] != c["cycles"]
                         else "")
                out += [f"{c['instructions']:,}", f"{c['cycles']:,} ({c['cycles_per_mac']:.2f})",
                        f"{c['us']:,.1f}{flash}"]
            lines.append(f"| {label} | {k} | " + " | ".join(out) + " |")
            label = ""
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                        help="cores to trace; the other rows are kept from the last "
                             "results/cycles.json")
    args = parser.parse_args()
    names = [t for t in args.targets.split(",") if t]
    previous = OUT / "cycles.json"
    rows_by_name = ({r["target"]: r for r in json.loads(previous.read_text())}
                    if previous.exists() else {})
    with tempfile.TemporaryDirectory(prefix="qhil-cycles-") as work:
        for name in names:
            print(f"tracing {name} ...", flush=True)
            rows_by_name[name] = measure(name, Path(work))
    order = DEFAULT_TARGETS + [n for n in rows_by_name if n not in DEFAULT_TARGETS]
    rows = [rows_by_name[n] for n in order if n in rows_by_name]
    OUT.mkdir(exist_ok=True)
    (OUT / "cycles.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = markdown(rows)
    (OUT / "cycles.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
