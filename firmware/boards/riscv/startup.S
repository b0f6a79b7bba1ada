/*
 * RV32 reset for QEMU virt (-bios none: QEMU's reset vector jumps to the ELF entry with
 * a0 = hart id, a1 = the device tree, neither used). The ELF is loaded into RAM as
 * linked, so .data is already in place: only .bss is cleared. Traps are never enabled;
 * mtvec still points at a stop so that a firmware bug halts where a debugger finds it.
 */
    .section .text.start, "ax"
    .global _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, __stack_top
    la      t0, qhil_trap_stop
    csrw    mtvec, t0
    la      t0, __bss_start
    la      t1, __bss_end
1:
    bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
2:
    call    main
qhil_trap_stop:
    j       qhil_trap_stop
