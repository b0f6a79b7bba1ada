"""Cycle estimates: the timing tables on short sequences counted by hand from the cores'
Technical Reference Manuals, the trace reconstruction, and a real QEMU trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qhil.targets.cycles import Core, Executed, estimate_cycles, parse_objdump
from qhil.targets.trace import executed_stream

# objdump -d lines as arm-none-eabi-objdump prints them
LISTING = """
00000100 <kernel>:
 100:	b5f0      	push	{r4, r5, r6, r7, lr}
 102:	6803      	ldr	r3, [r0, #0]
 104:	684c      	ldr	r4, [r1, #4]
 106:	6825      	ldr	r5, [r4, #0]
 108:	fb23 5504 	smlad	r5, r3, r4, r5
 10c:	fb03 f604 	mul.w	r6, r3, r4
 110:	fb03 6604 	mla	r6, r3, r4, r6
 114:	fb83 6704 	smull	r6, r7, r3, r4
 118:	3a01      	subs	r2, #1
 11a:	d1f2      	bne.n	102 <kernel+0x2>
 11c:	f000 f802 	bl	124 <leaf>
 120:	bdf0      	pop	{r4, r5, r6, r7, pc}
 122:	bf00      	nop
00000124 <leaf>:
 124:	e8b0 1008 	ldmia.w	r0!, {r3, ip}
 128:	4770      	bx	lr
"""


def _stream(*addrs_taken: tuple[int, bool]) -> list[Executed]:
    program = parse_objdump(LISTING)
    return [Executed(program[a], t) for a, t in addrs_taken]


def test_objdump_parsing() -> None:
    program = parse_objdump(LISTING)
    assert program[0x108].mnemonic == "smlad" and program[0x108].size == 4
    assert program[0x11a].mnemonic == "bne" and program[0x11a].size == 2
    assert program[0x10c].mnemonic == "mul" and program[0x120].registers[-1] == "pc"


# one pass of the loop body, taken back-edge, then the call, the leaf and the return
PASS = [(0x102, False), (0x104, False), (0x106, False), (0x108, False), (0x10c, False),
        (0x110, False), (0x114, False), (0x118, False), (0x11a, True)]
TAIL = [(0x11a, False), (0x11c, True), (0x124, False), (0x128, True), (0x120, True)]


def test_cortex_m4_by_hand() -> None:
    """M4 TRM: ldr 2, then 1 when pipelined behind a load it does not depend on (the third
    ldr's base r4 is the second's result: 2 again); smlad, mul, mla, smull 1 each; subs 1;
    taken bne 1+P = 3 (P = 2); push/pop 1+N (pop loads pc: +P); bl 1+P; ldm 1+N; bx 1+P."""
    est = estimate_cycles(_stream((0x100, False), *PASS), Core.M4)
    assert est.cycles == 6 + (2 + 1 + 2) + 1 + 1 + 1 + 1 + 1 + 3
    tail = estimate_cycles(_stream(*TAIL), Core.M4)
    assert tail.cycles == 1 + 3 + 3 + 3 + (1 + 5 + 2)  # bne not taken, bl, ldm {2}, bx, pop
    assert tail.taken_branches == 3  # bl, bx, pop {pc}: each refetches


def test_cortex_m3_by_hand() -> None:
    """M3 TRM: as the M4 but MLA 2, SMULL 3-5 (4 taken); SMLAD does not exist there, the
    table is asked anyway (1)."""
    m3 = estimate_cycles(_stream(*PASS), Core.M3)
    m4 = estimate_cycles(_stream(*PASS), Core.M4)
    assert m3.cycles - m4.cycles == (2 - 1) + (4 - 1)


def test_cortex_m0_by_hand() -> None:
    """M0 TRM: every load 2 (no pipelining), MULS 1, taken conditional branch 3, not taken
    1, BL 4, BX 3, PUSH 1+N, POP with PC 4+N, LDM 1+N (N counts every listed register)."""
    est = estimate_cycles(_stream((0x100, False), *PASS), Core.M0)
    assert est.cycles == 6 + 2 * 3 + 1 + 1 + 1 + 1 + 1 + 3
    tail = estimate_cycles(_stream(*TAIL), Core.M0)
    assert tail.cycles == 1 + 4 + 3 + 3 + (4 + 5)
    assert tail.with_flash_wait_states(2) == tail.cycles + 2 * tail.taken_branches


def test_trace_blocks_become_instructions() -> None:
    """Block starts -> instructions: a block runs to its first control transfer (taken when
    the next block is elsewhere). When the next block starts inside that stretch, the block
    either looped back there (its branch targets it: all of it ran) or QEMU cut it short."""
    program = parse_objdump(LISTING)
    # entry block running into the loop and back to its top, the loop body once more (not
    # taken), the call, a leaf block QEMU cut after one instruction, the bx, the return
    pcs = [0x100, 0x102, 0x11c, 0x124, 0x128, 0x120]
    stream = executed_stream(pcs, program)
    body = [0x102, 0x104, 0x106, 0x108, 0x10c, 0x110, 0x114, 0x118, 0x11a]
    assert [e.ins.addr for e in stream] == [0x100, *body, *body, 0x11c, 0x124, 0x128, 0x120]
    assert stream[9].taken is True and stream[18].taken is False
    assert stream[19].taken is True and stream[20].taken is False  # bl taken; ldm is no branch
    assert stream[-1].taken is False  # nothing follows the last block


# a Helium loop as `objdump -d -marmv8.1-m.main` prints it (qhil_mat4_s8_mve.S)
HELIUM = """
00000200 <mat>:
 200:	2400      	movs	r4, #0
 202:	f012 e001 	dlstp.16	lr, r2
 206:	ecbb 1e88 	vldrh.u16	q0, [fp], #16
 20a:	ecb1 2e88 	vldrb.s16	q1, [r1], #8
 20e:	eef2 4e20 	vmlava.s16	r4, q1, q0
 212:	ecb3 4e88 	vldrb.s16	q2, [r3], #8
 216:	eef4 6e20 	vmlava.s16	r6, q2, q0
 21a:	f01f c015 	letp	lr, 206 <mat+0x6>
 21e:	3b01      	subs	r3, #1
 220:	4770      	bx	lr
"""


def test_cortex_m55_by_hand() -> None:
    """Dual-beat Helium: a vector instruction 2 cycles, 1 when it overlaps the previous
    one (a load or store next to a non-memory vector instruction): vldrh 2, vldrb 2 (two
    loads do not overlap), vmlava 1, vldrb 1, vmlava 1; LETP looping back 1; scalar
    instructions as on the M4."""
    program = parse_objdump(HELIUM)
    assert program[0x202].mnemonic == "dlstp" and program[0x21a].mnemonic == "letp"
    body = [Executed(program[a]) for a in (0x206, 0x20a, 0x20e, 0x212, 0x216)]
    est = estimate_cycles([Executed(program[0x200]), Executed(program[0x202]), *body,
                           Executed(program[0x21a], True)], Core.M55)
    assert est.cycles == 1 + 1 + (2 + 2 + 1 + 1 + 1) + 1
    assert est.by_class["vector"] == 7 and est.taken_branches == 1


def test_low_overhead_loops_in_the_trace() -> None:
    """QEMU ends a block after DLSTP (not after DLS) and at LE/LETP: a loop of three turns
    is its body three times, the last LETP not taken."""
    program = parse_objdump(HELIUM)
    stream = executed_stream([0x200, 0x206, 0x206, 0x206, 0x21e], program)
    body = [0x206, 0x20a, 0x20e, 0x212, 0x216, 0x21a]
    assert [e.ins.addr for e in stream] == [0x200, 0x202, *body * 3, 0x21e, 0x220]
    assert [e.taken for e in stream if e.ins.addr == 0x21a] == [True, True, False]


@pytest.mark.parametrize("target", ["qemu-m4", "qemu-m0", "qemu-m55"])
def test_a_real_trace_matches_the_device_count(target: str, tmp_path: Path) -> None:
    """QEMU's trace of one inference holds as many instructions as the device counted, up
    to the counter reads around the call and its tick phase (measured: within 0.15 %)."""
    from qhil.quant.vectors import load_cases
    from qhil.targets.trace import trace_inference

    case = next(c for c in load_cases() if c.name == "pendulum_size_w3")
    trace = trace_inference(target, case.blob, case.inputs[0], tmp_path)
    assert abs(trace.estimate.instructions - trace.device_instructions) <= max(
        30, 0.002 * trace.device_instructions)
    assert trace.estimate.instructions > 5000
    # every load/store costs 2 on the M0 and taken branches 3: cycles exceed instructions
    assert 1.1 < trace.estimate.cycles / trace.estimate.instructions < 2.5
    assert np.isclose(sum(trace.estimate.by_class.values()), trace.estimate.cycles)


def test_bench_reports_estimated_cycles(tmp_path: Path) -> None:
    """``qhil bench --cycles``: each device variant's cost carries the estimate; a target
    without a timing model is refused before anything runs."""
    import json

    from qhil.cli.main import main

    model = Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1"
    out = tmp_path / "run"
    assert main(["-q", "bench", "--model", str(model), "--target", "qemu-m4", "--variants",
                 "float,int8", "--episodes", "1", "--calib-episodes", "2", "--cycles",
                 "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    est = int8["device_cost"]["estimated"]
    assert est["timings"] == "Cortex-M4 TRM" and est["cycles"] > est["instructions"] > 0
    assert abs(est["device_instructions"] - int8["device_cost"]["median"]) < 80
    assert est["clock_hz"] == 100_000_000 and np.isclose(est["us"], est["cycles"] / 100)
    assert "Estimated cycles per action" in (out / "summary.md").read_text()
    assert main(["-q", "bench", "--model", str(model), "--target", "native", "--variants",
                 "int8", "--cycles", "-o", str(tmp_path / "native")]) == 2
    assert not (tmp_path / "native").exists()
