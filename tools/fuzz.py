#!/usr/bin/env python3
"""Build and run the firmware's libFuzzer targets (firmware/test/fuzz/).

    tools/fuzz.py run [--seconds 600] [--jobs 2] [--json out.json]   build, then fuzz
    tools/fuzz.py seeds                                            rewrite tests/fuzz/*

Both targets are compiled from the firmware's own C sources with clang
``-fsanitize=fuzzer,address,undefined``; a crash, a sanitizer report, a leak or an input
slower than --timeout ends the campaign with a reproducer under build/fuzz/artifacts/.
The seed corpus lives in tests/fuzz/ (committed); what the fuzzer discovers goes to
build/fuzz/corpus-<target>/ and is kept between campaigns.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
SEEDS = ROOT / "tests" / "fuzz"
BUILD = ROOT / "build" / "fuzz"

# What each target compiles, besides its entry point: the firmware's sources.
TARGETS: dict[str, list[str]] = {
    "frames": ["src/proto/qhil_proto.c", "src/proto/qhil_cobs.c", "src/runtime/qhil_crc32.c",
               "src/runtime/qhil_model.c", "src/runtime/qhil_port_defaults.c",
               "src/nn/ref/qhil_fc_ref.c", "src/nn/ref/qhil_act_table.c", "src/nn/opt/qhil_fc_opt_c.c",
               "src/nn/opt/qhil_fc_tflite_s8.c", "src/nn/f32/qhil_fc_f32.c", "test/fuzz/fuzz_port.c"],
    "model_load": ["src/runtime/qhil_model.c", "src/runtime/qhil_crc32.c",
                   "src/nn/ref/qhil_fc_ref.c", "src/nn/ref/qhil_act_table.c", "src/nn/opt/qhil_fc_opt_c.c",
                   "src/nn/opt/qhil_fc_tflite_s8.c", "src/nn/f32/qhil_fc_f32.c"],
}
UNIT = {"frames": "frames", "model_load": "blobs"}


@dataclass
class Campaign:
    target: str
    seconds: float
    executions: int
    exec_per_s: float
    units: int  # frames or blobs, as counted by the harness
    unit: str
    accepted: int | None
    corpus_files: int
    crashed: bool
    log_tail: str


def build(target: str) -> Path:
    """Compile one fuzz target (incrementally: skipped when no source is newer)."""
    clang = shutil.which("clang")
    if clang is None:
        raise SystemExit("clang is not installed (apt-get install clang)")
    BUILD.mkdir(parents=True, exist_ok=True)
    exe = BUILD / f"fuzz_{target}"
    sources = [FIRMWARE / f"test/fuzz/fuzz_{target}.c", *(FIRMWARE / s for s in TARGETS[target])]
    headers = [*FIRMWARE.glob("include/*.h"), *FIRMWARE.glob("test/fuzz/*.h")]
    if exe.exists() and all(p.stat().st_mtime < exe.stat().st_mtime for p in sources + headers):
        return exe
    cmd = [clang, "-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-Werror",
           "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
           f"-I{FIRMWARE / 'include'}", f"-I{FIRMWARE / 'test/fuzz'}",
           "-DQHIL_MAX_WIDTH=256", "-o", str(exe), *map(str, sources), "-lm"]
    subprocess.run(cmd, check=True)
    return exe


def run(target: str, seconds: float, timeout: float = 5.0) -> subprocess.Popen[str]:
    """Start a campaign in the background; :func:`finish` collects it."""
    exe = build(target)
    corpus = BUILD / f"corpus-{target}"
    artifacts = BUILD / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [str(exe), f"-max_total_time={int(seconds)}", f"-timeout={int(timeout)}",
           "-print_final_stats=1", "-max_len=8192", f"-artifact_prefix={artifacts}/{target}-",
           str(corpus), str(SEEDS / target)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(target: str, seconds: float, proc: subprocess.Popen[str]) -> Campaign:
    log, _ = proc.communicate()
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", log, re.M))
    units = re.search(r"qhil-fuzz: (\d+) \w+(?:, (\d+) accepted)?", log)
    executions = int(stats.get("number_of_executed_units", 0))
    elapsed = max(int(stats.get("total_run_time", seconds) or seconds), 1)
    return Campaign(
        target=target, seconds=seconds, executions=executions,
        exec_per_s=round(executions / elapsed, 1),
        units=int(units.group(1)) if units else 0, unit=UNIT[target],
        accepted=int(units.group(2)) if units and units.group(2) else None,
        corpus_files=len(list((BUILD / f"corpus-{target}").iterdir())),
        crashed=proc.returncode != 0, log_tail="\n".join(log.splitlines()[-40:]))


def campaigns(seconds: float, jobs: int = 2) -> list[Campaign]:
    """Run every target for ``seconds``, ``jobs`` at a time."""
    names = list(TARGETS)
    for name in names:
        build(name)
    done: list[Campaign] = []
    for start in range(0, len(names), jobs):
        batch = [(n, run(n, seconds)) for n in names[start : start + jobs]]
        done += [finish(n, seconds, p) for n, p in batch]
    return done


def write_seeds() -> None:
    """Seed corpus: the protocol vectors, whole sessions that load and run models, blobs."""
    sys.path.insert(0, str(ROOT / "host"))
    import numpy as np

    from qhil.common.actor import Activation
    from qhil.link.framing import MsgType, Packet, encode_frame
    from qhil.quant.blob import write_blob
    from qhil.quant.config import parse_bits
    from qhil.quant.random_model import random_quant_model

    frames_dir, blobs_dir = SEEDS / "frames", SEEDS / "model_load"
    for d in (frames_dir, blobs_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    vectors = json.loads((ROOT / "tests/vectors/protocol/v1.json").read_text())
    for i, case in enumerate(vectors["frames"]):
        (frames_dir / f"vector-{i:02d}").write_bytes(bytes.fromhex(case["frame"]))
    rng = np.random.default_rng(0)
    for w_bits, a_bits in [(8, 8), (4, 4), (3, 3), (2, 2), (3, 8)]:
        bits = parse_bits(f"w{w_bits}a{a_bits}", 3)
        model = random_quant_model(rng, [3, 8, 8, 2], bits)
        blob = write_blob(model)
        (blobs_dir / f"random-w{w_bits}a{a_bits}.qhil").write_bytes(blob)
        session = [Packet(MsgType.HELLO, 1), Packet(MsgType.LOAD_BEGIN, 2,
                                                    len(blob).to_bytes(4, "little"))]
        for off in range(0, len(blob), 200):
            session.append(Packet(MsgType.LOAD_CHUNK, 3 + off,
                                  off.to_bytes(4, "little") + blob[off : off + 200]))
        session += [Packet(MsgType.LOAD_END, 900),
                    Packet(MsgType.INFER, 901, np.array([1, -2, 3], "<i2").tobytes()),
                    Packet(MsgType.BENCH, 902, b"\x03\x00" + np.zeros(3, "<i2").tobytes()),
                    Packet(MsgType.STATS, 903), Packet(MsgType.RESET, 904)]
        (frames_dir / f"session-w{w_bits}a{a_bits}").write_bytes(
            b"".join(encode_frame(p) for p in session))
        # packet mode ('P', then u16 length + packet without CRC; see fuzz_frames.c)
        (frames_dir / f"packets-w{w_bits}a{a_bits}").write_bytes(b"P" + b"".join(
            len(raw := p.encode()[:-4]).to_bytes(2, "little") + raw for p in session))
    # format version 2: tanh and identity hidden layers, with their tables
    tanh = random_quant_model(np.random.default_rng(1), [3, 8, 8, 8, 2], parse_bits("w4a4", 4),
                              activations=(Activation.TANH, Activation.IDENTITY, Activation.TANH))
    (blobs_dir / "random-v2-tanh.qhil").write_bytes(write_blob(tanh))
    for blob_path in sorted((ROOT / "tests/vectors/v1").glob("*.qhil")):
        shutil.copy(blob_path, blobs_dir / blob_path.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="build and run every fuzz target")
    r.add_argument("--seconds", type=float, default=600.0, help="per target (default 600)")
    r.add_argument("--jobs", type=int, default=2, help="campaigns at a time (default 2)")
    r.add_argument("--json", type=Path, help="write the campaign results here")
    sub.add_parser("seeds", help="regenerate the seed corpus in tests/fuzz/")
    args = parser.parse_args()
    if args.cmd == "seeds":
        write_seeds()
        return 0
    t0 = time.time()
    results = campaigns(args.seconds, args.jobs)
    for c in results:
        state = "CRASH" if c.crashed else "ok"
        extra = f", {c.accepted} accepted" if c.accepted is not None else ""
        print(f"{c.target:11s} {state:5s} {c.executions:>10,d} inputs  {c.exec_per_s:>9,.0f}/s  "
              f"{c.units:>11,d} {c.unit}{extra}  corpus {c.corpus_files}")
        if c.crashed:
            print(c.log_tail)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"wall_s": round(time.time() - t0, 1),
                                         "campaigns": [asdict(c) for c in results]}, indent=2))
    return 1 if any(c.crashed for c in results) else 0


if __name__ == "__main__":
    sys.exit(main())
