/*
 * qhil_mat_acc4_s8: int8 rows x int16 inputs, four rows per pass (ARMv7E-M DSP).
 *
 *   void qhil_mat_acc4_s8(const uint32_t *x, const uint8_t *w, uint32_t groups,
 *                         uint32_t blocks, int32_t *acc,
 *                         const int32_t *init);
 *
 * x    inputs reordered in pairs (x0,x2) (x1,x3) per group of four (qhil_fc_opt_dsp.c)
 * w    weights in kernel order (qhil_fc_opt_prepare): per block of four rows, per group,
 *      one word of four int8 codes from each row
 * init [4 * blocks] the sums' starting values (the bias, zero for padding rows)
 * acc  [4 * blocks] raw sums (bias included), written
 *
 * One group against four rows: 1 LDM of the inputs, 1 LDM of the four weight words,
 * 8 SXTB16, 8 SMLAD: 18 instructions for 16 MACs. Sixteen registers is what the loop
 * needs, which inline assembly cannot promise; hence this file.
 * groups >= 1, blocks >= 1.
 */
    .syntax unified
    .thumb
    .text

#include "qhil_mat_acc_dsp.inc"

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

.macro SETUP
.endm

.macro FINISH
.endm

    MAT_ACC qhil_mat_acc4_s8, 4

/*
 * qhil_row1_s8: one row of the same layout, for a last block with one or two real rows
 * (cheaper than a four-row pass over padding rows).
 *
 *   int32_t qhil_row1_s8(const uint32_t *x, const uint8_t *w, uint32_t groups,
 *                        int32_t init);
 *
 * w    the row's word in the block's first group; the next group's is 16 bytes on.
 * Returns init plus the row's sum: 8 instructions per 4 MACs. groups >= 1.
 */
    .global qhil_row1_s8
    .type   qhil_row1_s8, %function
    .thumb_func
qhil_row1_s8:
    push    {r4-r6, lr}
1:
    ldmia   r0!, {r4, r5}
    ldr     r6, [r1], #16
    sxtb16  lr, r6
    smlad   r3, lr, r4, r3
    sxtb16  r6, r6, ror #8
    smlad   r3, r6, r5, r3
    subs    r2, r2, #1
    bne     1b
    mov     r0, r3
    pop     {r4-r6, pc}
    .size   qhil_row1_s8, . - qhil_row1_s8
