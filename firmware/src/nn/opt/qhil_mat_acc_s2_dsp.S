/*
 * qhil_mat_acc2_s2: 2-bit rows x int16 inputs, two rows per pass (ARMv7E-M DSP).
 *
 *   void qhil_mat_acc2_s2(const uint32_t *x, const uint8_t *w, uint32_t groups,
 *                         uint32_t blocks, int32_t *acc,
 *                         const int32_t *init);
 *
 * x    inputs reordered for 16 codes a word (qhil_fc_opt_dsp.c): (x0,x8) (x4,x12)
 *      (x1,x9) (x5,x13) (x2,x10) (x6,x14) (x3,x11) (x7,x15) per group
 * w    weights as the blob stores them in the 2 x 16 blocked layout
 *      (docs/model-format.md#layouts): per block of two rows, per group of sixteen
 *      codes, one word from each row (code k in bits 2k..2k+1)
 * init [2 * blocks] the sums' starting values (the bias x 64, zero for padding rows)
 * acc  [2 * blocks] raw sums (bias included), written. Shifting a word left by 6, 4, 2
 *      or 0 and masking with 0xC0C0C0C0 leaves codes {0,4,8,12}, {1,5,9,13},
 *      {2,6,10,14} or {3,7,11,15} at the tops of the four bytes, where SXTB16
 *      sign-extends them; every product (and the starting value) is then 64 times too
 *      large, which one exact ASR #6 per row undoes (the caller checked that the scaled
 *      sums cannot overflow)
 *
 * One group against two rows: 3 LDM, 8 AND, 16 SXTB16, 16 SMLAD: 43 instructions for
 * 32 MACs. groups >= 1, blocks >= 1.
 */
    .syntax unified
    .thumb
    .text

#include "qhil_mat_acc_dsp.inc"

/* Codes of row word W shifted by S to the byte tops (mask in r6), into lr. */
.macro PICK w, s
    .if \s == 0
    and     lr, r6, \w
    .else
    and     lr, r6, \w, lsl #\s
    .endif
.endm

/* Two of row word W's four code sets (shifts SA, SB) against the pairs in r8-r11:
 * acc A += 8 MACs. */
.macro ROW w, a, sa, sb
    PICK    \w, \sa
    sxtb16  r7, lr
    smlad   \a, r7, r8, \a
    sxtb16  lr, lr, ror #8
    smlad   \a, lr, r9, \a
    PICK    \w, \sb
    sxtb16  r7, lr
    smlad   \a, r7, r10, \a
    sxtb16  lr, lr, ror #8
    smlad   \a, lr, r11, \a
.endm

.macro GROUP
    ldmia   r1!, {r3, r12}
    ldmia   r0!, {r8-r11}
    ROW     r3, r4, 6, 4
    ROW     r12, r5, 6, 4
    ldmia   r0!, {r8-r11}
    ROW     r3, r4, 2, 0
    ROW     r12, r5, 2, 0
.endm

.macro SETUP
    mov     r6, #0xC0C0C0C0
.endm

/* undo the x64 of codes moved to the byte tops; exact, every product is a multiple of 64 */
.macro FINISH
    asrs    r4, r4, #6
    asrs    r5, r5, #6
.endm

    MAT_ACC qhil_mat_acc2_s2, 2

/* One code set of the row word in r9 (shift S, mask in r10) against pairs XA, XB. */
.macro ROW1 s, xa, xb
    .if \s == 0
    and     r8, r10, r9
    .else
    and     r8, r10, r9, lsl #\s
    .endif
    sxtb16  lr, r8
    smlad   r3, lr, \xa, r3
    sxtb16  r8, r8, ror #8
    smlad   r3, r8, \xb, r3
.endm

/*
 * qhil_row1_s2: one row of the same layout, for a last block with one real row.
 *
 *   int32_t qhil_row1_s2(const uint32_t *x, const uint8_t *w, uint32_t groups,
 *                        int32_t init);
 *
 * w    the row's word in the block's first group; the next group's is 8 bytes on.
 * Returns (init + 64 x the row's sum) / 64, init being 64 x the bias: 23 instructions per
 * 16 MACs. groups >= 1.
 */
    .global qhil_row1_s2
    .type   qhil_row1_s2, %function
    .thumb_func
qhil_row1_s2:
    push    {r4-r10, lr}
    mov     r10, #0xC0C0C0C0
1:
    ldr     r9, [r1], #8
    ldmia   r0!, {r4-r7}
    ROW1    6, r4, r5
    ROW1    4, r6, r7
    ldmia   r0!, {r4-r7}
    ROW1    2, r4, r5
    ROW1    0, r6, r7
    subs    r2, r2, #1
    bne     1b
    asrs    r0, r3, #6
    pop     {r4-r10, pc}
    .size   qhil_row1_s2, . - qhil_row1_s2
