"""What a QEMU round trip is made of -> benchmarks/results/qemu_rtt.json.

    .venv/bin/python benchmarks/qemu_rtt.py [--targets qemu-rv32]

INFER round trips (median of 100, host-timed) of an int8 policy with 3 and with 17
inputs: on qemu-m4 over its Ethernet link and over its CMSDK UART (the UART also with
-icount shift=7/5/3 and sleep=on/off), on qemu-m0 (nRF51 UART) and on qemu-rv32 (NS16550A
UART, 16-byte FIFO). If -icount pacing set the round trip it would shrink with the shift;
the instruction count reported by the device is given beside it (ticks x num/den). Then
Pendulum's closed loop (the shipped qat_w3 policy, env steps included) on qemu-m4 over
both links, in steps per second. Last, uploads: an 8 KB int8 blob sent to every UART target
and over qemu-m4's Ethernet, in microseconds a byte (the link's cost, beside the round
trips'). ``--targets`` re-measures the round trips and uploads of the targets named and
keeps every other row (each row says when it was measured).
"""

from __future__ import annotations

import argparse
import datetime
import json
import socket
import subprocess
import time
from pathlib import Path

import numpy as np

from qhil.link.device import Device
from qhil.link.ethernet import EthernetTransport
from qhil.link.transport import Transport
from qhil.quant.blob import read_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.random_model import random_input_codes, random_quant_model
from qhil.targets import EmulatorLink, start_target, target_info
from qhil.targets.drivers import connect_socket, free_port, qemu_command
from qhil.targets.firmware import build_firmware

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "qemu_rtt.json"
TODAY = datetime.date.today().isoformat()


def measure(target: str, icount: str, obs: int,
            link: EmulatorLink = EmulatorLink.UART) -> dict[str, object]:
    info = target_info(target)
    elf = build_firmware(info.pio_env)
    port = free_port()
    ethernet = None
    if link is EmulatorLink.ETHERNET:
        ethernet = (free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM))
        transport: Transport = EthernetTransport(*ethernet)
    proc = subprocess.Popen(qemu_command(info, elf, port, ethernet, icount),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if ethernet is None:
            transport = connect_socket(proc, port, "QEMU", 10.0)
        dev = Device(transport, timeout=5.0)
        dev.hello(wait=10.0)
        model = random_quant_model(np.random.default_rng(0), [obs, 64, 64, 1],
                                   parse_bits("int8", 3))
        xs = random_input_codes(np.random.default_rng(1), model, 100)
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
        dev.close()
    finally:
        proc.kill()
        proc.wait()
    return {"target": target, "link": link.value, "icount": icount, "inputs": obs,
            "rtt_ms_p50": round(float(np.median(times)) * 1e3, 3),
            "instructions": round(instructions), "request_bytes": 10 + 2 * obs + 2,
            "measured": TODAY}


def upload(target: str, link: EmulatorLink, repeats: int = 5) -> dict[str, object]:
    """LOAD of an int8 [17, 64, 64, 6] blob (the median of ``repeats``), in us a byte."""
    model = random_quant_model(np.random.default_rng(0), [17, 64, 64, 6], parse_bits("int8", 3))
    blob = write_blob(model)
    with start_target(target, timeout=10.0, link=link) as running:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            running.device.load(blob)
            times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    return {"target": target, "link": link.value, "bytes": len(blob),
            "ms_p50": round(seconds * 1e3, 1), "us_per_byte": round(seconds / len(blob) * 1e6, 1),
            "measured": TODAY}


def closed_loop(target: str, link: EmulatorLink, steps: int = 2000) -> dict[str, object]:
    """Pendulum's shipped qat_w3 export in the closed loop: env step + device answer."""
    from qhil.common.envs import make_env
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.policy import ActionDecoder, ObservationQuantizer
    from qhil.quant.qmodel import QuantModel

    model = load_model_dir(ROOT / "models" / "Pendulum-v1")
    blob = (ROOT / "models" / "Pendulum-v1" / "qat_w3.qhil").read_bytes()
    qmodel = read_blob(blob)
    assert isinstance(qmodel, QuantModel), "qat_w3 is an integer export"
    quantize, decode = ObservationQuantizer(qmodel), ActionDecoder(qmodel)
    env = make_env(model.env_id)
    with start_target(target, timeout=5.0, link=link) as running:
        dev = running.device
        dev.load(blob)
        obs, _ = env.reset(seed=100000)
        t0 = time.perf_counter()
        for _ in range(steps):
            codes, _ = dev.infer(quantize.checked(obs))
            obs, _, term, trunc, _ = env.step(decode(codes))
            if term or trunc:
                obs, _ = env.reset()
        elapsed = time.perf_counter() - t0
    hidden = [layer.n_out for layer in qmodel.layers[:-1]]
    return {"target": target, "link": link.value, "steps": steps,
            "steps_per_s": round(steps / elapsed), "policy": f"qat_w3 {hidden}",
            "measured": TODAY}


UPLOAD_LANES = [("qemu-m4", EmulatorLink.ETHERNET), ("qemu-m4", EmulatorLink.UART),
                ("qemu-m0", EmulatorLink.UART), ("qemu-m33", EmulatorLink.UART),
                ("qemu-m55", EmulatorLink.UART), ("qemu-rv32", EmulatorLink.UART),
                ("qemu-stm32f4", EmulatorLink.UART)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", help="comma-separated: re-measure these targets' round "
                        "trips and uploads only, keeping the other rows")
    args = parser.parse_args()
    only = set(args.targets.split(",")) if args.targets else None
    old = json.loads(OUT.read_text()) if only and OUT.is_file() else {}

    def wanted(target: str) -> bool:
        return only is None or target in only

    rows = []
    for obs in (3, 17):
        plan = [("qemu-m4", "shift=7,sleep=on", link)
                for link in (EmulatorLink.ETHERNET, EmulatorLink.UART)]
        plan += [("qemu-m4", icount, EmulatorLink.UART)
                 for icount in ("shift=7,sleep=off", "shift=5,sleep=on", "shift=3,sleep=on")]
        plan += [(target, "shift=7,sleep=on", EmulatorLink.UART)
                 for target in ("qemu-m0", "qemu-rv32")]
        for target, icount, link in plan:
            kept = [r for r in old.get("round_trips", []) if (r["target"], r["icount"],
                    r["link"], r["inputs"]) == (target, icount, link.value, obs)]
            rows.append(measure(target, icount, obs, link) if wanted(target) or not kept
                        else kept[0])
            print(rows[-1], flush=True)
    uploads = []
    for target, link in UPLOAD_LANES:
        kept = [r for r in old.get("uploads", [])
                if (r["target"], r["link"]) == (target, link.value)]
        uploads.append(upload(target, link) if wanted(target) or not kept else kept[0])
        print(uploads[-1], flush=True)
    loops = old.get("closed_loop") if only else None
    if loops is None:
        loops = [closed_loop("qemu-m4", link)
                 for link in (EmulatorLink.ETHERNET, EmulatorLink.UART)]
    print(loops, flush=True)
    OUT.write_text(json.dumps({"round_trips": rows, "uploads": uploads, "closed_loop": loops},
                              indent=2) + "\n")


if __name__ == "__main__":
    main()
