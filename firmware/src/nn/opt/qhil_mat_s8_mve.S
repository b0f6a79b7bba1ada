/*
 * int8 rows against one input vector (Cortex-M55, Helium):
 *
 *   void qhil_mat_s8_mve(const int16_t *x, const int8_t *w, uint32_t n, uint32_t rows,
 *                        int32_t *acc, const int32_t *init);
 *   void qhil_mat_s8x8_mve(const int8_t *x, const int8_t *w, uint32_t n, uint32_t rows,
 *                          int32_t *acc, const int32_t *init);
 *
 * x     n input codes: int16 (any code) or int8 (codes in [-128, 127])
 * w     rows of n int8 codes each, one after the other: the blob's own rows
 * acc   [rows] sums, written: init[i] + sum_k w[i][k] x[k]
 * init  [rows] the sums' starting values
 *
 * A tail-predicated loop (DLSTP/LETP): the last turn loads only the codes that are left,
 * so nothing past a row is read and no remainder code exists. int16 inputs: eight a turn,
 * 1 VLDRH of the inputs and per row 1 VLDRB.S16 (eight codes sign-extended to halfwords)
 * and 1 VMLADAVA: 10 instructions for 32 MACs, LETP included. int8 inputs: sixteen a
 * turn in byte lanes: 10 instructions for 64 MACs. Four rows a turn, the rows left one a
 * turn: the loops are qhil_mat_mve.inc's. n >= 1, rows >= 1.
 */
    .syntax unified
    .thumb
    .text

#include "qhil_mat_mve.inc"

.macro SETUP_qhil_mat_s8_mve
.endm
.macro SETUP_qhil_mat_s8x8_mve
.endm

.macro TURN1_qhil_mat_s8_mve
    vldrh.u16 q0, [r11], #16
    vldrb.s16 q1, [r1], #8
    vmladava.s16 r4, q1, q0
.endm

.macro TURN1_qhil_mat_s8x8_mve
    vldrb.u8 q0, [r11], #16
    vldrb.u8 q1, [r1], #16
    vmladava.s8 r4, q1, q0
.endm

.macro TURN_qhil_mat_s8_mve
    vldrh.u16 q0, [r11], #16
    vldrb.s16 q1, [r1], #8
    vmladava.s16 r4, q1, q0
    vldrb.s16 q2, [r3], #8
    vmladava.s16 r6, q2, q0
    vldrb.s16 q1, [r5], #8
    vmladava.s16 r8, q1, q0
    vldrb.s16 q2, [r7], #8
    vmladava.s16 r10, q2, q0
.endm

.macro TURN_qhil_mat_s8x8_mve
    vldrb.u8 q0, [r11], #16
    vldrb.u8 q1, [r1], #16
    vmladava.s8 r4, q1, q0
    vldrb.u8 q2, [r3], #16
    vmladava.s8 r6, q2, q0
    vldrb.u8 q1, [r5], #16
    vmladava.s8 r8, q1, q0
    vldrb.u8 q2, [r7], #16
    vmladava.s8 r10, q2, q0
.endm

    MAT qhil_mat_s8_mve, 16, 8, init
    MAT qhil_mat_s8x8_mve, 8, 16, init

/*
 * void qhil_mat_s8x8_short_mve(const qhil_fc_params *p, const int8_t *x, uint32_t n,
 *                              int32_t *acc);
 *
 * qhil_mat_s8x8_mve for rows of at most 16 codes (a first layer's few observations): one
 * turn a row, so no loop over the row: the inputs are loaded once under VCTP (zero past
 * n), each row under the same predicate, and the block costs 18 instructions, not 22.
 */
    .global qhil_mat_s8x8_short_mve
    .type   qhil_mat_s8x8_short_mve, %function
    .thumb_func
qhil_mat_s8x8_short_mve:
    push    {r4-r11, lr}
    vpush   {d8-d9}
    mov     r12, r3                 /* acc */
    ldrh    r3, [r0, #QHIL_FC_N_OUT]
    ldr     r9, [r0, #QHIL_FC_ACC_INIT]
    ldr     r0, [r0, #QHIL_FC_WEIGHTS]
    and     r7, r3, #3              /* single rows */
    vctp.8  r2
    vpst
    vldrbt.u8 q0, [r1]
    lsrs    r11, r3, #2             /* blocks */
    beq     3f
1:
    ldrd    r4, r6, [r9], #8
    ldrd    r8, r10, [r9], #8
    add     r1, r0, r2
    add     r3, r1, r2
    add     r5, r3, r2
    vpstttt
    vldrbt.u8 q1, [r0]
    vldrbt.u8 q2, [r1]
    vldrbt.u8 q3, [r3]
    vldrbt.u8 q4, [r5]
    vmladava.s8 r4, q1, q0
    vmladava.s8 r6, q2, q0
    vmladava.s8 r8, q3, q0
    vmladava.s8 r10, q4, q0
    stmia   r12!, {r4, r6, r8, r10}
    add     r0, r5, r2
    subs    r11, r11, #1
    bne     1b
3:
    cbz     r7, 5f
4:
    ldr     r4, [r9], #4
    vpst
    vldrbt.u8 q1, [r0]
    vmladava.s8 r4, q1, q0
    str     r4, [r12], #4
    add     r0, r0, r2
    subs    r7, r7, #1
    bne     4b
5:
    vpop    {d8-d9}
    pop     {r4-r11, pc}
    .size   qhil_mat_s8x8_short_mve, . - qhil_mat_s8x8_short_mve
