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
