"""Estimated cycles of an executed instruction stream, from the cores' published timings.

QEMU counts instructions, not cycles. This module weights each executed instruction by
the cycle count its core's Technical Reference Manual gives (zero wait states):

- Cortex-M0 (ARM DDI 0432C, table 3-1): 1 cycle for data processing and MULS (the fast
  multiplier), 2 for a load or store, 1+N for LDM/STM/PUSH/POP (4+N when POP loads the
  PC), 3 for a taken conditional branch (1 not taken), B 3, BL 4, BX/BLX 3;
- Cortex-M3 (ARM DDI 0337, table 3-1): as the M0 for data processing; MLA/MLS 2,
  SMULL/UMULL 3-5 and SMLAL/UMLAL 4-7 (early termination; the middle is taken: 4 and 6),
  SDIV/UDIV 2-12 (taken as 7); LDR 2, and 1 when it follows a load or store it can be
  pipelined with (no address dependency on the previous load's result); LDRD/STRD 3;
  LDM/STM/PUSH/POP 1+N; a taken branch 1+P, with the pipeline refill P taken as 2 (the
  manual gives 1 to 3); TBB/TBH 2+P;
- Cortex-M4 (ARM 100166, table 3-1): as the M3, but every multiply and multiply-accumulate
  (MLA, SMULL, SMLAL, SMLAD and the other DSP instructions) takes 1 cycle; FPU: VADD,
  VSUB, VMUL, VMOV, VCVT 1, VMLA/VFMA and their negations 3, VDIV/VSQRT 14, VLDR/VSTR 2,
  VLDM/VSTM/VPUSH/VPOP 1+N.

The Cortex-M7 and M33 have no such table in their manuals: their estimate uses the M4's
timings and is an upper bound for the M7 (it issues up to two instructions a cycle and
predicts branches) and an approximation for the M33 (same pipeline depth as the M4).

The Cortex-M55 (Armv8.1-M with Helium): scalar instructions as on the M4 (an
approximation, as for the M33); a Helium instruction works on its 128-bit vector in four
beats, and the M55 is a dual-beat implementation (two beats a cycle: 2 cycles an
instruction), whose beat-wise execution overlaps an instruction with the next when one
is a vector load or store and the other is not (the next then adds 1 cycle);
VPST/VPT/VCTP 1; the low-overhead loop's LE/LETP 1 when it loops (the loop is then
predicted), DLS/DLSTP/WLS 1.

Left out everywhere: instruction fetch wait states other than the board profile's flash
wait states (charged once per taken branch: a flash accelerator hides sequential
fetches), bus contention, the IT instruction folded into its successor, conditional
instructions skipped inside IT blocks (counted as executed), interrupts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Core", "Instruction", "Executed", "CycleEstimate", "estimate_cycles",
           "parse_objdump", "PIPELINE_REFILL"]

#: Cycles of a pipeline refill after a taken branch on the M3/M4 (their manuals: 1 to 3).
PIPELINE_REFILL = 2


class Core(Enum):
    """A core with a timing model (the value is its ``-mcpu`` name)."""

    M0 = "cortex-m0"
    M3 = "cortex-m3"
    M4 = "cortex-m4"
    M7 = "cortex-m7"
    M33 = "cortex-m33"
    M55 = "cortex-m55"

    @property
    def table(self) -> str:
        """The manual the timings come from."""
        if self is Core.M55:
            return "Cortex-M4 TRM scalar, dual-beat Helium (approximation)"
        return {Core.M0: "Cortex-M0 TRM", Core.M3: "Cortex-M3 TRM"}.get(
            self, "Cortex-M4 TRM" + ("" if self is Core.M4 else " (upper bound)" if self is Core.M7
                                     else " (approximation)"))

    @property
    def objdump_args(self) -> tuple[str, ...]:
        """What objdump needs to decode the core's instructions (Helium: the v8.1-M
        architecture named; the ELF's attributes are not enough for binutils 2.40)."""
        return ("-marmv8.1-m.main",) if self is Core.M55 else ()

    @classmethod
    def of_cpu(cls, cpu: str) -> Core | None:
        try:
            return cls(cpu)
        except ValueError:
            return None


@dataclass(frozen=True)
class Instruction:
    """One instruction of the program as objdump shows it."""

    addr: int
    size: int
    mnemonic: str  # lower case, without width suffix (.w/.n)
    operands: str

    @property
    def registers(self) -> list[str]:
        return _REG.findall(self.operands)

    @property
    def loads_pc(self) -> bool:
        return "pc" in self.registers[:1] or (
            self.mnemonic in ("pop", "ldmia", "ldm", "ldmfd") and "pc" in self.registers)


@dataclass(frozen=True)
class Executed:
    """An instruction as executed: whether its branch was taken."""

    ins: Instruction
    taken: bool = False


@dataclass
class CycleEstimate:
    """Instructions and estimated cycles of one stream, and where the cycles went."""

    core: Core
    instructions: int
    cycles: int
    taken_branches: int
    by_class: dict[str, int] = field(default_factory=dict)

    def with_flash_wait_states(self, wait_states: int) -> int:
        """Cycles with ``wait_states`` per refetch from flash (one per taken branch)."""
        return self.cycles + wait_states * self.taken_branches

    def as_dict(self) -> dict[str, object]:
        return {"core": self.core.value, "timings": self.core.table,
                "instructions": self.instructions, "cycles": self.cycles,
                "taken_branches": self.taken_branches, "by_class": dict(self.by_class)}


_REG = re.compile(r"\b(r1[0-5]|r[0-9]|sp|lr|pc|ip|fp|sl|sb|[sd][0-9]{1,2})\b")
_LINE = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{4}\s)+)\s*([a-z][\w.]*)\s*(.*)$")
_CONDS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt",
          "gt", "le", "al")


def parse_objdump(text: str) -> dict[int, Instruction]:
    """``arm-none-eabi-objdump -d`` output -> instructions by address (Thumb code)."""
    program: dict[int, Instruction] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        halfwords = m.group(2).split()
        mnemonic = m.group(3).split(".")[0]
        operands = m.group(4).split(";")[0].split("<")[0].strip().rstrip(",")
        addr = int(m.group(1), 16)
        program[addr] = Instruction(addr, 2 * len(halfwords), mnemonic, operands)
    return program


def _strip_cond(mnemonic: str, known: frozenset[str]) -> str:
    """The instruction's name without condition code or flag-setting ``s``: ``bls`` ->
    ``b`` (branch if lower or same, not ``bl``), ``movs`` -> ``mov``, ``addeq`` -> ``add``."""
    if mnemonic in known:
        return mnemonic
    if mnemonic[-2:] in _CONDS:
        stem = mnemonic[:-2]
        if stem in known:
            return stem
        if stem.endswith("s") and stem[:-1] in known:
            return stem[:-1]
    if mnemonic.endswith("s") and mnemonic[:-1] in known:
        return mnemonic[:-1]
    return mnemonic


_BRANCH = frozenset({"b", "bl", "blx", "bx", "cbz", "cbnz", "tbb", "tbh"})
_LOOP_END = frozenset({"le", "letp"})  # Armv8.1-M low-overhead loops: branch back
_LOOP_START = frozenset({"wls", "wlstp"})  # branch past the loop when it runs 0 times
# QEMU ends a translation block after DLSTP: the tail predication size it sets is part
# of a block's flags (DLS sets only LR and does not end one)
_LOOP_SETUP = frozenset({"dlstp"})
_MVE_MEM = frozenset({"vldrb", "vldrh", "vldrw", "vldrd", "vstrb", "vstrh", "vstrw", "vstrd",
                      "vld20", "vld21", "vld40", "vld41", "vld42", "vld43", "vst20", "vst21",
                      "vst40", "vst41", "vst42", "vst43"})
_QREG = re.compile(r"\bq[0-7]\b")
_MULTI = frozenset({"ldm", "ldmia", "ldmfd", "ldmdb", "stm", "stmia", "stmdb", "stmea",
                    "push", "pop", "vldmia", "vldmdb", "vstmia", "vstmdb", "vpush", "vpop",
                    "vldm", "vstm"})
_LOADS = frozenset({"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrt"})
_STORES = frozenset({"str", "strb", "strh", "strex"})
_DOUBLE = frozenset({"ldrd", "strd"})
_DSP = frozenset({"smlad", "smladx", "smlsd", "smlsdx", "smuad", "smuadx", "smusd", "smusdx",
                  "smlald", "smlaldx", "smlsld", "smlsldx", "smlabb", "smlabt", "smlatb",
                  "smlatt", "smlawb", "smlawt", "smulbb", "smulbt", "smultb", "smultt",
                  "smulwb", "smulwt", "smmul", "smmla", "smmls", "smmulr", "smmlar", "smmlsr",
                  "umaal", "smlalbb", "smlalbt", "smlaltb", "smlaltt"})
_MUL = frozenset({"mul"})
_MLA = frozenset({"mla", "mls"})
_LONG = frozenset({"smull", "umull"})
_LONG_ACC = frozenset({"smlal", "umlal"})
_DIV = frozenset({"sdiv", "udiv"})
_FP_SLOW = frozenset({"vdiv", "vsqrt"})
_FP_MAC = frozenset({"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"})
_FP_MEM = frozenset({"vldr", "vstr"})
_KNOWN = (_BRANCH | _MULTI | _LOADS | _STORES | _DOUBLE | _DSP | _MUL | _MLA | _LONG
          | _LONG_ACC | _DIV | _FP_SLOW | _FP_MAC | _FP_MEM
          | frozenset({"add", "adc", "sub", "sbc", "rsb", "mov", "mvn", "and", "orr", "eor",
                       "bic", "orn", "lsl", "lsr", "asr", "ror", "cmp", "cmn", "tst", "teq",
                       "it", "ite", "itt", "itte", "ittt", "iteee", "sxtb", "sxth", "uxtb",
                       "uxth", "sxtb16", "ssat", "usat", "ssat16", "usat16", "vmov", "vadd",
                       "vsub", "vmul", "vcvt", "vcmp", "vcmpe", "vmrs", "vneg", "vabs"}))


def _klass(ins: Instruction) -> str:
    if ins.mnemonic in _LOOP_END or ins.mnemonic in _LOOP_START:
        return "loop"
    if ins.mnemonic.startswith("v") and _QREG.search(ins.operands):
        return "mve_mem" if ins.mnemonic in _MVE_MEM else "mve"
    name = _strip_cond(ins.mnemonic, _KNOWN)
    if name in _BRANCH:
        return name if name in ("bl", "blx", "tbb", "tbh") else "branch"
    if ins.mnemonic.startswith("it"):
        return "it"
    for klass, names in (("multi", _MULTI), ("load", _LOADS), ("store", _STORES),
                         ("double", _DOUBLE), ("dsp", _DSP), ("mul", _MUL), ("mla", _MLA),
                         ("long_mul", _LONG), ("long_mla", _LONG_ACC), ("div", _DIV),
                         ("fp_slow", _FP_SLOW), ("fp_mac", _FP_MAC), ("fp_mem", _FP_MEM)):
        if name in names:
            return klass
    return "alu"


def _refill(core: Core) -> int:
    return PIPELINE_REFILL if core is not Core.M0 else 2


def _cost(core: Core, ins: Instruction, taken: bool, prev: Instruction | None) -> tuple[int, str]:
    klass = _klass(ins)
    if klass == "loop":
        return 1, "branch"
    if klass in ("mve", "mve_mem"):
        before = _klass(prev) if prev is not None else ""
        overlapped = before in ("mve", "mve_mem") and before != klass
        return (1 if overlapped else 2), "vector"
    writes_pc = ins.loads_pc or (klass == "alu" and ins.registers[:1] == ["pc"])
    n_regs = len(_REG.findall(ins.operands.split("{")[-1])) if klass == "multi" else 0
    m0 = core is Core.M0
    if klass == "branch":
        name = _strip_cond(ins.mnemonic, _KNOWN)
        if m0:
            return (3 if taken else 1), "branch"
        if name == "bx":
            return 1 + _refill(core), "branch"
        return (1 + _refill(core) if taken else 1), "branch"
    if klass in ("bl", "blx"):
        return (4 if m0 else 1 + _refill(core)) if klass == "bl" else (3 if m0 else 1 + _refill(core)), "call"
    if klass in ("tbb", "tbh"):
        return 2 + _refill(core), "branch"
    if klass == "multi":
        if m0:
            return (4 + n_regs if "pc" in ins.registers else 1 + n_regs), "load/store multiple"
        extra = _refill(core) if "pc" in ins.registers and ins.mnemonic.startswith(("pop", "ldm")) else 0
        return 1 + n_regs + extra, "load/store multiple"
    if klass in ("load", "store"):
        base = 2
        if (not m0 and prev is not None and _klass(prev) == "load"
                and not set(_address_regs(ins)) & set(prev.registers[:1])):
            base = 1  # pipelined behind the previous load (M3/M4 TRM)
        if klass == "load" and writes_pc:
            base += _refill(core) if not m0 else 1
        return base, "load/store"
    if klass == "double":
        return (3 if not m0 else 2), "load/store"
    if klass == "fp_mem":
        return 2, "load/store"
    if klass == "it":
        return 1, "other"
    if m0:  # the M0's fast multiplier and every data-processing instruction: 1 cycle
        return (1 if not writes_pc else 3), ("multiply" if klass == "mul" else "alu")
    m4 = core is not Core.M3
    cost = {"mul": 1, "mla": 1 if m4 else 2, "long_mul": 1 if m4 else 4,
            "long_mla": 1 if m4 else 6, "dsp": 1, "div": 7, "fp_slow": 14, "fp_mac": 3,
            "alu": 1}[klass]
    if writes_pc:
        cost += _refill(core)
    group = {"mul": "multiply", "mla": "multiply", "long_mul": "multiply",
             "long_mla": "multiply", "dsp": "multiply", "div": "divide", "fp_slow": "float",
             "fp_mac": "float", "alu": "alu"}[klass]
    return cost, group


def _address_regs(ins: Instruction) -> list[str]:
    inside = ins.operands.split("[", 1)[1] if "[" in ins.operands else ""
    return _REG.findall(inside)


def estimate_cycles(stream: Iterable[Executed], core: Core) -> CycleEstimate:
    """Cycles of an executed stream on ``core`` (module docstring: the timings and what
    they leave out)."""
    cycles = instructions = taken_branches = 0
    by_class: Counter[str] = Counter()
    prev: Instruction | None = None
    for item in stream:
        cost, group = _cost(core, item.ins, item.taken, prev)
        cycles += cost
        instructions += 1
        by_class[group] += cost
        if item.taken or (_klass(item.ins) in ("bl", "blx", "tbb", "tbh")) or item.ins.loads_pc:
            taken_branches += 1
        prev = item.ins
    return CycleEstimate(core, instructions, cycles, taken_branches, dict(by_class))


def is_control_transfer(ins: Instruction) -> bool:
    """Whether the instruction may leave straight-line code, or QEMU ends its translation
    block there anyway (DLSTP)."""
    klass = _klass(ins)
    return (klass in ("branch", "bl", "blx", "tbb", "tbh", "loop") or ins.loads_pc
            or ins.mnemonic in _LOOP_SETUP
            or (klass == "alu" and ins.registers[:1] == ["pc"]))
