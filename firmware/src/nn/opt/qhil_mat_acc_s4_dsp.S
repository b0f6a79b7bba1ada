/*
 * qhil_mat_acc2_s4: 4-bit rows x int16 inputs, two rows per pass (ARMv7E-M DSP).
 *
 *   void qhil_mat_acc2_s4(const uint32_t *x, const uint8_t *w, uint32_t groups,
 *                         uint32_t blocks, int32_t *acc,
 *                         const int32_t *init);
 *
 * x    inputs reordered for 8 codes a word: (x0,x4) (x2,x6) (x1,x5) (x3,x7) per group
 * w    weights in kernel order (qhil_fc_opt_prepare): per block of two rows, per group of
 *      eight codes, one word from each row (code k in bits 4k..4k+3)
 * init [2 * blocks] the sums' starting values (the bias x 16, zero for padding rows)
 * acc  [2 * blocks] raw sums (bias included), written. The codes are moved to the top of
 *      each byte (AND with 0xF0F0F0F0, before or after LSL #4) so that SXTB16
 *      sign-extends them; every product (and the starting value) is then 16 times too
 *      large, which one exact ASR #4 per row undoes (the caller checked that the scaled
 *      sums cannot overflow)
 *
 * One group against two rows: 2 LDM, 4 AND, 8 SXTB16, 8 SMLAD: 22 instructions for
 * 16 MACs. groups >= 1, blocks >= 1.
 */
    .syntax unified
    .thumb
    .text

#include "qhil_mat_acc_dsp.inc"

/* Row word W (r3 or r12) of eight codes, inputs in r8-r11, mask in r6: acc A += 8 MACs. */
.macro ROW w, a
    and     lr, r6, \w, lsl #4
    and     \w, \w, r6
    sxtb16  r7, lr
    smlad   \a, r7, r8, \a
    sxtb16  lr, lr, ror #8
    smlad   \a, lr, r9, \a
    sxtb16  r7, \w
    smlad   \a, r7, r10, \a
    sxtb16  \w, \w, ror #8
    smlad   \a, \w, r11, \a
.endm

.macro GROUP
    ldmia   r0!, {r8-r11}
    ldmia   r1!, {r3, r12}
    ROW     r3, r4
    ROW     r12, r5
.endm

.macro SETUP
    mov     r6, #0xF0F0F0F0
.endm

/* undo the x16 of codes moved to the byte tops; exact, every product is a multiple of 16 */
.macro FINISH
    asrs    r4, r4, #4
    asrs    r5, r5, #4
.endm

    MAT_ACC qhil_mat_acc2_s4, 2

/*
 * qhil_row1_s4: one row of the same layout, for a last block with one real row.
 *
 *   int32_t qhil_row1_s4(const uint32_t *x, const uint8_t *w, uint32_t groups,
 *                        int32_t init);
 *
 * w    the row's word in the block's first group; the next group's is 8 bytes on.
 * Returns (init + 16 x the row's sum) / 16, init being 16 x the bias: 13 instructions per
 * 8 MACs. groups >= 1.
 */
    .global qhil_row1_s4
    .type   qhil_row1_s4, %function
    .thumb_func
qhil_row1_s4:
    push    {r4-r10, lr}
    mov     r10, #0xF0F0F0F0
1:
    ldmia   r0!, {r4-r7}
    ldr     r9, [r1], #8
    and     r8, r10, r9, lsl #4
    and     r9, r9, r10
    sxtb16  lr, r8
    smlad   r3, lr, r4, r3
    sxtb16  r8, r8, ror #8
    smlad   r3, r8, r5, r3
    sxtb16  lr, r9
    smlad   r3, lr, r6, r3
    sxtb16  r9, r9, ror #8
    smlad   r3, r9, r7, r3
    subs    r2, r2, #1
    bne     1b
    asrs    r0, r3, #4
    pop     {r4-r10, pc}
    .size   qhil_row1_s4, . - qhil_row1_s4
