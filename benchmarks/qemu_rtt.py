"""What a QEMU round trip is made of -> benchmarks/results/qemu_rtt.json.

    .venv/bin/python benchmarks/qemu_rtt.py

INFER round trips (median of 100, host-timed) of an int8 policy with 3 and with 17
inputs, on qemu-m4 (CMSDK UART) with -icount shift=7/5/3 and sleep=on/off, on qemu-m0
(nRF51 UART) and on qemu-rv32 (NS16550A UART, 16-byte FIFO). If -icount pacing set the
round trip it would shrink with the shift; the instruction count reported by the device is
given beside it (ticks x num/den).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from qhil.quant.blob import write_blob
from qhil.quant.config import parse_bits
from qhil.quant.random_model import random_input_codes, random_quant_model
from qhil.targets import start_target
from qhil.targets import targets as target_table

OUT = Path(__file__).resolve().parent / "results" / "qemu_rtt.json"


def measure(target: str, icount: str, obs: int) -> dict[str, object]:
    original = target_table._start_qemu

    def start(info: target_table.TargetInfo, elf: Path) -> tuple[object, object]:
        qemu = shutil.which(info.qemu[0])
        assert qemu is not None
        port = target_table._free_port()
        cmd = [qemu, *info.qemu[1:], "-M", info.machine, "-nographic", "-monitor", "none", "-icount", icount,
               "-chardev",
               f"socket,id=s0,host=127.0.0.1,port={port},server=on,wait=off,nodelay=on",
               "-serial", "chardev:s0", "-kernel", str(elf)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return proc, target_table._connect_socket(proc, port, "QEMU", 10.0)

    target_table._start_qemu = start  # type: ignore[assignment]
    try:
        model = random_quant_model(np.random.default_rng(0), [obs, 64, 64, 1],
                                   parse_bits("int8", 3))
        xs = random_input_codes(np.random.default_rng(1), model, 100)
        with start_target(target, timeout=5.0) as running:
            dev = running.device
            dev.load(write_blob(model))
            assert dev.info is not None
            times, costs = [], []
            for x in xs:
                t0 = time.perf_counter()
                costs.append(dev.infer(x)[1])
                times.append(time.perf_counter() - t0)
            # the device's counter scale assumes shift=7: rescale to instructions
            shift = int(icount.split("shift=")[1].split(",")[0])
            instructions = float(np.median(costs)) * dev.info.cost_num / dev.info.cost_den \
                * 2 ** (7 - shift)
    finally:
        target_table._start_qemu = original  # type: ignore[assignment]
    return {"target": target, "icount": icount, "inputs": obs,
            "rtt_ms_p50": round(float(np.median(times)) * 1e3, 3),
            "instructions": round(instructions), "request_bytes": 10 + 2 * obs + 2}


def main() -> None:
    rows = []
    for obs in (3, 17):
        for icount in ("shift=7,sleep=on", "shift=7,sleep=off", "shift=5,sleep=on",
                       "shift=3,sleep=on"):
            rows.append(measure("qemu-m4", icount, obs))
            print(rows[-1], flush=True)
        for target in ("qemu-m0", "qemu-rv32"):
            rows.append(measure(target, "shift=7,sleep=on", obs))
            print(rows[-1], flush=True)
    OUT.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
