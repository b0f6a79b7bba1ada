/*
 * qhil_mat4_s8_mve: int8 rows x int16 inputs, four rows per pass (Cortex-M55, Helium).
 *
 *   void qhil_mat4_s8_mve(const int16_t *x, const int8_t *w, uint32_t n, uint32_t blocks,
 *                         int32_t *acc);
 *
 * x    n input codes
 * w    4 * blocks rows of n int8 codes each, one after the other: the blob's own rows
 * acc  [4 * blocks] raw sums (no bias), written
 *
 * Eight inputs a turn in a tail-predicated loop (DLSTP/LETP): the last turn loads only
 * the codes that are left, so nothing past a row is read and no remainder code exists.
 * A turn: 1 VLDRH of the inputs, per row 1 VLDRB.S16 (eight codes sign-extended to
 * halfwords) and 1 VMLADAVA (eight products added to the row's sum): 10 instructions for
 * 32 MACs, LETP included. The widening loads take low base registers only (rows in r1,
 * r3, r5, r7) and VMLADAVA even accumulators only (r4, r6, r8, r10). n >= 1, blocks >= 1.
 */
    .syntax unified
    .thumb
    .text

    .global qhil_mat4_s8_mve
    .type   qhil_mat4_s8_mve, %function
    .thumb_func
qhil_mat4_s8_mve:
    push    {r4-r11, lr}
    ldr     r12, [sp, #36]          /* acc, the fifth argument */
    sub     sp, sp, #8
    str     r3, [sp]                /* blocks left */
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
    dlstp.16 lr, r2
2:
    vldrh.u16 q0, [r11], #16
    vldrb.s16 q1, [r1], #8
    vmladava.s16 r4, q1, q0
    vldrb.s16 q2, [r3], #8
    vmladava.s16 r6, q2, q0
    vldrb.s16 q3, [r5], #8
    vmladava.s16 r8, q3, q0
    vldrb.s16 q1, [r7], #8
    vmladava.s16 r10, q1, q0
    letp    lr, 2b
    stmia   r12!, {r4, r6, r8, r10}
    ldrd    r3, r1, [sp]
    add     r1, r1, r2
    subs    r3, r3, #1
    str     r3, [sp]
    bne     1b
    add     sp, sp, #8
    pop     {r4-r11, pc}
    .size   qhil_mat4_s8_mve, . - qhil_mat4_s8_mve
