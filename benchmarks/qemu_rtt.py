"""What a QEMU round trip is made of -> benchmarks/results/qemu_rtt.json.

    .venv/bin/python benchmarks/qemu_rtt.py

INFER round trips (median of 100, host-timed) of an int8 policy with 3 and with 17
inputs: on qemu-m4 over its Ethernet link and over its CMSDK UART (the UART also with
-icount shift=7/5/3 and sleep=on/off), on qemu-m0 (nRF51 UART) and on qemu-rv32 (NS16550A
UART, 16-byte FIFO). If -icount pacing set the round trip it would shrink with the shift;
the instruction count reported by the device is given beside it (ticks x num/den). Then
Pendulum's closed loop (the shipped qat_w3 policy, env steps included) on qemu-m4 over
both links, in steps per second.
"""

from __future__ import annotations

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
            "instructions": round(instructions), "request_bytes": 10 + 2 * obs + 2}


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
    return {"target": target, "link": link.value, "steps": steps,
            "steps_per_s": round(steps / elapsed)}


def main() -> None:
    rows = []
    for obs in (3, 17):
        for link in (EmulatorLink.ETHERNET, EmulatorLink.UART):
            rows.append(measure("qemu-m4", "shift=7,sleep=on", obs, link))
            print(rows[-1], flush=True)
        for icount in ("shift=7,sleep=off", "shift=5,sleep=on", "shift=3,sleep=on"):
            rows.append(measure("qemu-m4", icount, obs))
            print(rows[-1], flush=True)
        for target in ("qemu-m0", "qemu-rv32"):
            rows.append(measure(target, "shift=7,sleep=on", obs))
            print(rows[-1], flush=True)
    loops = [closed_loop("qemu-m4", link) for link in (EmulatorLink.ETHERNET, EmulatorLink.UART)]
    print(loops, flush=True)
    OUT.write_text(json.dumps({"round_trips": rows, "closed_loop": loops}, indent=2) + "\n")


if __name__ == "__main__":
    main()
