"""ARM CMSIS-NN on qhil's emulated cores, for BENCHMARKS' comparison -> results/cmsis_nn.json.

    .venv/bin/python benchmarks/cmsis_nn_external.py --cmsis-nn PATH [--work DIR]

qhil cannot vendor CMSIS-NN (it is on no registry, and nothing built from it is committed):
PATH is a checkout of github.com/ARM-software/CMSIS-NN made by whoever runs this. Outside
the repository (--work, default a temporary folder) the script writes a small harness that
runs a three-layer MLP of the Pendulum [3,64,64,1] and HalfCheetah [17,64,64,6] shapes
through arm_fully_connected_s8 (per-tensor), arm_fully_connected_per_channel_s8 and
arm_fully_connected_s4 (int8 activations, ReLU as zero point -128; on Helium the kernel sums
are made beforehand by arm_vector_sum_s8, as TFLM does at prepare), on qhil's own board ports
and counter, and builds it for the M0, M3, M4 and M55 with arm-none-eabi-gcc and with clang
(qhil's builder, custom_compiler) at -O3, -O2 and -Os. Each build runs under QEMU 7.2 with
-icount shift=7 and counts, as qhil's firmware does, around one non-inlinable call (median
of 9). Each cell's best build is traced once more and its cycles estimated by qhil's cycle
model (qhil.targets.cycles), as benchmarks/cycle_estimates.py does for qhil.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import qhil.targets.trace as trace
from qhil.targets.cycles import Core, estimate_cycles
from qhil.targets.firmware import FIRMWARE_DIR, pio_env

OUT = Path(__file__).resolve().parent / "results" / "cmsis_nn.json"
MACS = {"pendulum": 3 * 64 + 64 * 64 + 64, "halfcheetah": 17 * 64 + 64 * 64 + 64 * 6}
CORES = {  # qhil target: (board, QEMU machine, cpu, the board's defines)
    "qemu-m0": ("microbit_qemu", "microbit", "cortex-m0", "nrf51",
                "-DQHIL_MAX_WIDTH=64 -DQHIL_RX_RING=512"),
    "qemu-m3": ("mps2_an385", "mps2-an385", "cortex-m3", "mps2",
                "-DQHIL_RX_RING=4096 -DQHIL_CPU_NAME=\\\"cortex-m3\\\""),
    "qemu-m4": ("mps2_an386", "mps2-an386", "cortex-m4", "mps2",
                "-DQHIL_RX_RING=4096 -DQHIL_CPU_NAME=\\\"cortex-m4\\\""),
    "qemu-m55": ("mps3_an547", "mps3-an547", "cortex-m55", "mps3", ""),
}
COMPILERS = ("gcc", "clang")
OPTS = ("O3", "O2", "Os")
SOURCES = ["Source/FullyConnectedFunctions/arm_fully_connected_s8.c",
           "Source/FullyConnectedFunctions/arm_fully_connected_per_channel_s8.c",
           "Source/FullyConnectedFunctions/arm_fully_connected_s4.c",
           "Source/FullyConnectedFunctions/arm_vector_sum_s8.c",
           "Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c",
           "Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.c",
           "Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_s4.c"]
LINE = re.compile(r"cmsis (\w+) (\w+) raw=(\d+) num=(\d+) den=(\d+)")

HARNESS = r"""
/* The CMSIS-NN harness of benchmarks/cmsis_nn_external.py (qhil's port, CMSIS-NN's kernels). */
#include <stdint.h>
#include <string.h>
#include "arm_nnfunctions.h"
#include "qhil_port.h"

#ifdef CMSIS_TRACE
enum { REPEATS = 1 };
#else
enum { REPEATS = 9 };
#endif
static uint32_t rng = 2463534242u;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }
static int8_t w8_0[17 * 64], w8_1[64 * 64], w8_2[64 * 6];
static int8_t w4_0[17 * 32 + 1], w4_1[64 * 32], w4_2[32 * 6 + 1];
static int8_t *const w8[3] = {w8_0, w8_1, w8_2};
static int8_t *const w4[3] = {w4_0, w4_1, w4_2};
static int32_t bias[3][64], mults[3][64], shifts[3][64], ksum[3][64];
static int8_t act0[64], act1[64], act2[64], out[64];
static int n_in[3], n_out[3], kind;

static void setup(const int *sizes)
{
    for (int l = 0; l < 3; l++) {
        n_in[l] = sizes[l];
        n_out[l] = sizes[l + 1];
        for (int i = 0; i < n_in[l] * n_out[l]; i++) w8[l][i] = (int8_t)((int)(rnd() % 255) - 127);
        for (int i = 0; i < (n_in[l] * n_out[l] + 1) / 2; i++) w4[l][i] = (int8_t)rnd();
        for (int i = 0; i < n_out[l]; i++) {
            bias[l][i] = (int32_t)(rnd() % 2000) - 1000;
            mults[l][i] = (int32_t)(0x40000000u + (rnd() >> 2));
            shifts[l][i] = -8 - (int32_t)(rnd() % 3);
        }
        arm_vector_sum_s8(ksum[l], n_in[l], n_out[l], w8[l], l == 0 ? 0 : 128, 0, bias[l]);
    }
    for (int i = 0; i < sizes[0]; i++) act0[i] = (int8_t)rnd();
}

static void layer(int l, const int8_t *in, int8_t *o)
{
    cmsis_nn_context ctx = {ksum[l], (int32_t)sizeof ksum[l]};
    cmsis_nn_fc_params fc = {l == 0 ? 0 : 128, 0, l == 2 ? 0 : -128, {-128, 127}};
    cmsis_nn_dims in_d = {1, 1, 1, n_in[l]}, f_d = {n_in[l], 1, 1, n_out[l]};
    cmsis_nn_dims b_d = {1, 1, 1, n_out[l]}, o_d = {1, 1, 1, n_out[l]};
    cmsis_nn_per_tensor_quant_params q = {mults[l][0], shifts[l][0]};
    cmsis_nn_per_channel_quant_params qc = {mults[l], shifts[l]};
    if (kind == 0) {
        arm_fully_connected_s8(&ctx, &fc, &q, &in_d, in, &f_d, w8[l], &b_d, bias[l], &o_d, o);
    } else if (kind == 1) {
        arm_fully_connected_per_channel_s8(&ctx, &fc, &qc, &in_d, in, &f_d, w8[l], &b_d, bias[l],
                                           &o_d, o);
    } else {
        arm_fully_connected_s4(&ctx, &fc, &q, &in_d, in, &f_d, w4[l], &b_d, bias[l], &o_d, o);
    }
}

#ifdef __clang__
__attribute__((noinline)) void infer(void)
#else
__attribute__((noipa)) void infer(void)
#endif
{
    layer(0, act0, act1);
    layer(1, act1, act2);
    layer(2, act2, out);
}

static void put(const char *s) { qhil_port_write((const uint8_t *)s, (uint32_t)strlen(s)); }
static void put_u(uint32_t v)
{
    char b[12], r[12];
    int n = 0;
    do { b[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    for (int i = 0; i < n; i++) r[i] = b[n - 1 - i];
    qhil_port_write((const uint8_t *)r, (uint32_t)n);
}

int main(void)
{
    static const int pend[4] = {3, 64, 64, 1}, cheetah[4] = {17, 64, 64, 6};
    const int *shapes[2] = {pend, cheetah};
    const char *names[2] = {"pendulum", "halfcheetah"}, *kinds[3] = {"s8", "s8pc", "s4"};
    qhil_port_init();
    for (int s = 0; s < 2; s++) {
        setup(shapes[s]);
        for (kind = 0; kind < 3; kind++) {
            uint32_t t[9] = {0};
            for (int r = 0; r < REPEATS; r++) {
                __asm__ volatile("" ::: "memory");
                const uint32_t t0 = qhil_port_cost_now();
                infer();
                const uint32_t t1 = qhil_port_cost_now();
                __asm__ volatile("" ::: "memory");
                t[r] = t1 - t0;
            }
            for (int i = 1; i < REPEATS; i++)
                for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
                    const uint32_t x = t[j]; t[j] = t[j - 1]; t[j - 1] = x;
                }
            put("cmsis "); put(names[s]); put(" "); put(kinds[kind]); put(" raw=");
            put_u(t[REPEATS / 2]); put(" num="); put_u(qhil_port_info.cost_num);
            put(" den="); put_u(qhil_port_info.cost_den); put("\n");
        }
    }
    put("cmsis done\n");
    for (;;) {
    }
}
"""


def env_name(core: str, cc: str, opt: str, traced: bool) -> str:
    return f"{core}-{cc}-{opt}" + ("-trace" if traced else "")


def write_project(work: Path, cmsis: Path) -> None:
    """The harness project: qhil's platform, boards and port headers, CMSIS-NN's sources."""
    if work.exists():
        shutil.rmtree(work)
    for part in ("platform", "boards", "include"):
        shutil.copytree(FIRMWARE_DIR / part, work / part)
    (work / "src" / "bench").mkdir(parents=True)
    (work / "src" / "bench" / "bench_main.c").write_text(HARNESS)
    (work / "src" / "cmsis").mkdir()
    for source in SOURCES:
        shutil.copy(cmsis / source, work / "src" / "cmsis")
    shutil.copytree(cmsis / "Include", work / "cmsis_include")
    lines = ["[platformio]", "src_dir = .", ""]
    for core, (board, _, _, boards, defines) in CORES.items():
        for cc in COMPILERS:
            for opt in OPTS:
                for traced in (False, True):
                    lines += [f"[env:{env_name(core, cc, opt, traced)}]",
                              "platform = symlink://platform/qhilmcu", f"board = {board}",
                              f"custom_compiler = {cc}",
                              "build_src_filter = +<src/bench/> +<src/cmsis/> "
                              f"+<boards/cortexm/> +<boards/{boards}/>",
                              # the builder's -O2 stays for -O2; CMSIS-NN is not -Werror clean
                              "build_unflags = -Werror" + ("" if opt == "O2" else " -O2"),
                              f"build_flags = -Iinclude -Icmsis_include -{opt} {defines}"
                              + (" -DCMSIS_TRACE" if traced else ""), ""]
    (work / "platformio.ini").write_text("\n".join(lines))


def build_env(work: Path, env: str) -> Path:
    """``pio run -e ENV`` in the harness project: its ELF."""
    pio = Path(sys.executable).with_name("pio")
    proc = subprocess.run([str(pio), "run", "-e", env], cwd=work, env=pio_env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building {env} failed:\n{proc.stdout[-2000:]}")
    return work / ".pio" / "build" / env / "program.elf"


def run(elf: Path, machine: str, work: Path, log: Path | None = None) -> str:
    """The harness's lines from QEMU (stopped once it says it is done)."""
    out = work / "serial.txt"
    out.unlink(missing_ok=True)
    cmd = ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-icount",
           "shift=7", "-serial", f"file:{out}", "-kernel", str(elf)]
    if log is not None:
        cmd += ["-d", "exec,nochain", "-D", str(log)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if out.is_file() and "cmsis done" in out.read_text():
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{elf}: the harness did not finish")
    finally:
        proc.kill()
        proc.wait()
    return out.read_text()


def cycles_of(elf: Path, machine: str, cpu: str, work: Path) -> dict[tuple[str, str], int]:
    """Estimated cycles of each traced infer() call, by (shape, kernel)."""
    log = work / "trace.log"
    run(elf, machine, work, log)
    core = Core.of_cpu(cpu)
    assert core is not None
    program, symbols = trace._program(elf, elf.stat().st_mtime, core.objdump_args)
    pcs = [int(m.group(1), 16) for line in log.read_text(errors="replace").splitlines()
           if (m := trace._TRACE.match(line))]
    start = symbols["infer"][0]
    cells = [(s, k) for s in ("pendulum", "halfcheetah") for k in ("s8", "s8pc", "s4")]
    found: dict[tuple[str, str], int] = {}
    i = 0
    for cell in cells:
        i = pcs.index(start, i)
        kept = []
        while (name := trace._function_of(symbols, pcs[i])) != "main":
            if not name.endswith("_Handler") and not name.startswith("Irq"):
                kept.append(pcs[i])
            i += 1
        found[cell] = estimate_cycles(trace.executed_stream(kept, program), core).cycles
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cmsis-nn", type=Path, required=True, help="a CMSIS-NN checkout")
    parser.add_argument("--work", type=Path, default=None, help="build folder (outside the repo)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="qhil-cmsis-nn-"))
    write_project(work, args.cmsis_nn)
    per_mac: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    best: dict = defaultdict(dict)
    for core, (_, machine, _, _, _) in CORES.items():
        for cc in COMPILERS:
            for opt in OPTS:
                env = env_name(core, cc, opt, False)
                print(f"{core} {cc} -{opt} ...", flush=True)
                elf = build_env(work, env)
                for m in LINE.finditer(run(elf, machine, work)):
                    shape, kind, raw, num, den = m.groups()
                    value = int(raw) * int(num) / int(den) / MACS[shape]
                    per_mac[core][kind][shape][f"{cc} -{opt}"] = round(value, 3)
        for kind, shapes in per_mac[core].items():
            for shape, builds in shapes.items():
                best[core][f"{shape}/{kind}"] = min(builds, key=builds.get)
    cycles: dict = defaultdict(dict)
    for core, (_, machine, cpu, _, _) in CORES.items():
        for build in sorted(set(best[core].values())):
            cc, opt = build.split(" -")
            print(f"{core} {build}: tracing ...", flush=True)
            elf = build_env(work, env_name(core, cc, opt, True))
            for (shape, kind), value in cycles_of(elf, machine, cpu, work).items():
                if best[core][f"{shape}/{kind}"] == build:
                    cycles[core][f"{shape}/{kind}"] = round(value / MACS[shape], 3)
    repo = ["git", "-C", str(args.cmsis_nn)]
    out = {"external": True,
           "cmsis_nn_commit": subprocess.check_output([*repo, "rev-parse", "HEAD"], text=True).strip(),
           "cmsis_nn_commit_date": subprocess.check_output([*repo, "log", "-1", "--format=%cs"],
                                                           text=True).strip(),
           "measured": date.today().isoformat(),
           "compilers": {"gcc": subprocess.check_output(["arm-none-eabi-gcc", "--version"],
                                                        text=True).splitlines()[0],
                         "clang": subprocess.check_output(["clang", "--version"],
                                                          text=True).splitlines()[0]},
           "method": ("benchmarks/cmsis_nn_external.py: CMSIS-NN's arm_fully_connected_s8 "
                      "(per-tensor), arm_fully_connected_per_channel_s8 and "
                      "arm_fully_connected_s4, three layers a call (int8 activations, ReLU as "
                      "zero point -128, Helium's kernel sums made beforehand as TFLM does at "
                      "prepare), on qhil's board ports and counter (QEMU 7.2, -icount shift=7, "
                      "median of 9), built outside this repository with arm-none-eabi-gcc and "
                      "clang at -O3, -O2 and -Os; cycles of each cell's best build estimated "
                      "by qhil's cycle model"),
           "per_mac": per_mac, "best": best, "cycles_per_mac": cycles}
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
