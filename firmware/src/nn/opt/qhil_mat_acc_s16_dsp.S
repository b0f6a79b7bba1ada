/*
 * qhil_mat_acc4_s16: int16 rows x int16 inputs, four rows per pass (ARMv7E-M DSP).
 *
 *   void qhil_mat_acc4_s16(const uint32_t *x, const uint32_t *w, uint32_t groups,
 *                          uint32_t blocks, int32_t *acc,
 *                         const int32_t *init);
 *
 * x    inputs in their natural order, zero-padded to groups of four: (x0,x1) (x2,x3)
 * w    weights widened to int16 at load (qhil_fc_opt_prepare): per block of four rows,
 *      per group, two words (w0,w1) (w2,w3) from each row
 * init [4 * blocks] the sums' starting values (the bias, zero for padding rows)
 * acc  [4 * blocks] raw sums (bias included), written
 *
 * One group against four rows: 1 LDM of the inputs, 2 LDM of eight weight words,
 * 8 SMLAD: 11 instructions for 16 MACs, no unpacking (the codes were widened once, at
 * the cost of two bytes of arena RAM per weight). groups >= 1, blocks >= 1.
 */
    .syntax unified
    .thumb
    .text

#include "qhil_mat_acc_dsp.inc"

.macro GROUP
    ldmia   r0!, {r3, r12}
    ldmia   r1!, {r8-r11}
    smlad   r4, r8, r3, r4
    smlad   r4, r9, r12, r4
    smlad   r5, r10, r3, r5
    smlad   r5, r11, r12, r5
    ldmia   r1!, {r8-r11}
    smlad   r6, r8, r3, r6
    smlad   r6, r9, r12, r6
    smlad   r7, r10, r3, r7
    smlad   r7, r11, r12, r7
.endm

.macro SETUP
.endm

.macro FINISH
.endm

    MAT_ACC qhil_mat_acc4_s16, 4
