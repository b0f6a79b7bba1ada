/*
 * Four int8 rows at a time against one input vector (Cortex-M55, Helium):
 *
 *   void qhil_mat4_s8_mve(const int16_t *x, const int8_t *w, uint32_t n, uint32_t blocks,
 *                         int32_t *acc);
 *   void qhil_mat4_s8x8_mve(const int8_t *x, const int8_t *w, uint32_t n, uint32_t blocks,
 *                           int32_t *acc);
 *   void qhil_mat4_u8x8_mve(const uint8_t *x, const int8_t *w, uint32_t n, uint32_t blocks,
 *                           int32_t *acc);
 *
 * x    n input codes: int16 (any code), int8 (codes in [-128, 127]) or uint8 ([0, 255])
 * w    4 * blocks rows of n int8 codes each, one after the other: the blob's own rows
 * acc  [4 * blocks] raw sums (no bias), written; for u8x8 the sums of (w + 128) x, which
 *      the caller corrects by 128 * sum(x) (the codes' sign bit flipped is w + 128)
 *
 * A tail-predicated loop (DLSTP/LETP): the last turn loads only the codes that are left,
 * so nothing past a row is read and no remainder code exists. int16 inputs: eight a turn,
 * 1 VLDRH of the inputs and per row 1 VLDRB.S16 (eight codes sign-extended to halfwords)
 * and 1 VMLADAVA: 10 instructions for 32 MACs, LETP included. Byte inputs: sixteen a
 * turn, byte lanes throughout: 10 instructions for 64 MACs (u8x8: 14, a VEOR a row).
 * The widening loads take low base registers only (rows in r1, r3, r5, r7) and VMLADAVA
 * even accumulators only (r4, r6, r8, r10). n >= 1, blocks >= 1.
 */
    .syntax unified
    .thumb
    .text

/* The block loop around a turn macro TURN and its loop width. */
.macro MAT4 name, width
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    push    {r4-r11, lr}
    ldr     r12, [sp, #36]          /* acc, the fifth argument */
    sub     sp, sp, #8
    str     r3, [sp]                /* blocks left */
    vmov.i8 q3, #0x80               /* u8x8: the sign bit of every weight code */
1:
    add     r3, r1, r2              /* rows 1..3 of the block */
    add     r5, r3, r2
    add     r7, r5, r2
    str     r7, [sp, #4]            /* row 3: the next block starts n after it */
    movs    r4, #0
    movs    r6, #0
    movs    r8, #0
    movs    r10, #0
    mov     r11, r0
    dlstp.\width lr, r2
2:
    TURN_\name
    letp    lr, 2b
    stmia   r12!, {r4, r6, r8, r10}
    ldrd    r3, r1, [sp]
    add     r1, r1, r2
    subs    r3, r3, #1
    str     r3, [sp]
    bne     1b
    add     sp, sp, #8
    pop     {r4-r11, pc}
    .size   \name, . - \name
.endm

.macro TURN_qhil_mat4_s8_mve
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

.macro TURN_qhil_mat4_s8x8_mve
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

.macro TURN_qhil_mat4_u8x8_mve
    vldrb.u8 q0, [r11], #16
    vldrb.u8 q1, [r1], #16
    veor    q1, q1, q3
    vmladava.u8 r4, q1, q0
    vldrb.u8 q2, [r3], #16
    veor    q2, q2, q3
    vmladava.u8 r6, q2, q0
    vldrb.u8 q1, [r5], #16
    veor    q1, q1, q3
    vmladava.u8 r8, q1, q0
    vldrb.u8 q2, [r7], #16
    veor    q2, q2, q3
    vmladava.u8 r10, q2, q0
.endm

    MAT4 qhil_mat4_s8_mve, 16
    MAT4 qhil_mat4_s8x8_mve, 8
    MAT4 qhil_mat4_u8x8_mve, 8
