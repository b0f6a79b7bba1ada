/*
 * qhil_mat_acc4_s8: int8 rows x int16 inputs, four rows per pass (ARMv7E-M DSP).
 *
 *   void qhil_mat_acc4_s8(const uint32_t *x, const uint8_t *w, uint32_t groups,
 *                         uint32_t blocks, int32_t *acc);
 *
 * x    inputs reordered in pairs (x0,x2) (x1,x3) per group of four (qhil_fc_opt_dsp.c)
 * w    weights in kernel order (qhil_fc_opt_prepare): per block of four rows, per group,
 *      one word of four int8 codes from each row
 * acc  [4 * blocks] raw sums, written
 *
 * One group against four rows: 1 LDM of the inputs, 1 LDM of the four weight words,
 * 8 SXTB16, 8 SMLAD: 18 instructions for 16 MACs. Sixteen registers is what the loop
 * needs, which inline assembly cannot promise; hence this file.
 * groups >= 1, blocks >= 1.
 */
    .syntax unified
    .thumb
    .text

/* Row word W of four codes against the pair registers: acc A += 4 MACs. */
.macro ROW w, a
    sxtb16  lr, \w
    smlad   \a, lr, r3, \a
    sxtb16  \w, \w, ror #8
    smlad   \a, \w, r12, \a
.endm

.macro GROUP
    ldmia   r0!, {r3, r12}
    ldmia   r1!, {r8-r11}
    ROW     r8, r4
    ROW     r9, r5
    ROW     r10, r6
    ROW     r11, r7
.endm

    .global qhil_mat_acc4_s8
    .type   qhil_mat_acc4_s8, %function
    .thumb_func
qhil_mat_acc4_s8:
    /* [sp] x, [sp+4] groups, [sp+8] blocks left; the fifth argument lands at [sp+48] */
    push    {r0, r2, r3, r4-r11, lr}
.Lblock:
    ldrd    r0, r2, [sp]
    movs    r4, #0
    movs    r5, #0
    movs    r6, #0
    movs    r7, #0
    /* two groups per turn; an odd count enters at the second */
    lsrs    r2, r2, #1
    bcc     .Lfirst
    adds    r2, r2, #1
    b       .Lsecond
.Lfirst:
    GROUP
.Lsecond:
    GROUP
    subs    r2, r2, #1
    bne     .Lfirst
    ldr     r3, [sp, #48]
    stmia   r3!, {r4-r7}
    str     r3, [sp, #48]
    ldr     r3, [sp, #8]
    subs    r3, r3, #1
    str     r3, [sp, #8]
    bne     .Lblock
    add     sp, sp, #12
    pop     {r4-r11, pc}
    .size   qhil_mat_acc4_s8, . - qhil_mat_acc4_s8
