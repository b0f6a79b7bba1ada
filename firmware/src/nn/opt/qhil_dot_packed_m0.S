/*
 * Packed-multiply dot products of 4- and 2-bit rows on the Cortex-M0, two MACs per MULS:
 *
 *   uint32_t qhil_dot4_m0(const uint8_t *row, const uint32_t *xp, uint32_t bytes);
 *   uint32_t qhil_dot2lo_m0(const uint8_t *row, const uint32_t *xp, uint32_t bytes);
 *   uint32_t qhil_dot2hi_m0(const uint8_t *row, const uint32_t *xp, uint32_t bytes);
 *
 * Byte j of a 4-bit row holds codes c0 (low nibble) and c1. Flipping each nibble's sign
 * bit (XOR 0x88) makes them c + 8 in [0, 15]; multiplying the byte by 0x1001 and masking
 * with 0x000F000F puts c0 + 8 in bits 0-3 and c1 + 8 in bits 16-19: W = w0 + w1 2^16.
 * With the inputs packed the other way round, X = x1 + x0 2^16 (xp[j], made once per
 * layer and shared by every row), W X = w0 x1 + (w0 x0 + w1 x1) 2^16 (mod 2^32): the
 * high half is the byte's two MACs. Summed over the bytes given, S = L + H 2^16 with
 * L = sum w0 x1 and H = sum (c + 8) x; the caller sizes `bytes` so that |L| and |H| stay
 * below 2^15, takes L back out as S's low half sign-extended, and 8 sum x off H.
 * A 2-bit byte holds four codes: XOR 0xAA makes them c + 2 in [0, 3], 0x4001 and the mask
 * 0x00030003 pick codes 0 and 1 (dot2lo) or, after a shift by 4, codes 2 and 3 (dot2hi);
 * xp then holds two words a byte (inputs 4j, 4j + 1 and 4j + 2, 4j + 3), and each half
 * reads every other one. Returns S.
 *
 * ARMv6-M has no bit-field extract and no multiply-accumulate: sign-extending two codes
 * and multiplying each costs 10 instructions a byte, this 7 (8 for dot2hi), four bytes a
 * turn. Checked against the reference by the firmware tests on qemu-m0 (random models).
 */
#if defined(__ARM_ARCH_6M__)
    .syntax unified
    .thumb
    .text

.macro BYTE i, stride, shift
    ldrb    r6, [r0, #\i]
    eors    r6, r2
    .if \shift
    lsrs    r6, r6, #4
    .endif
    muls    r6, r3, r6
    ands    r6, r4
    ldr     r7, [r1, #(\i * \stride)]
    muls    r6, r7, r6
    adds    r5, r5, r6
.endm

.macro DOT name, flip, spread, mask, stride, shift
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    push    {r4-r7, lr}
    adds    r3, r0, r2
    mov     lr, r3                  /* the row's end */
    lsrs    r2, r2, #2
    lsls    r2, r2, #2
    adds    r2, r0, r2
    mov     r12, r2                 /* the end of its whole turns */
    movs    r2, #\flip
    ldr     r3, =\spread
    ldr     r4, =\mask
    movs    r5, #0
    cmp     r0, r12
    beq     2f
1:
    BYTE    0, \stride, \shift
    BYTE    1, \stride, \shift
    BYTE    2, \stride, \shift
    BYTE    3, \stride, \shift
    adds    r0, r0, #4
    adds    r1, r1, #(4 * \stride)
    cmp     r0, r12
    bne     1b
2:
    cmp     r0, lr
    beq     4f
3:
    BYTE    0, \stride, \shift
    adds    r0, r0, #1
    adds    r1, r1, #\stride
    cmp     r0, lr
    bne     3b
4:
    movs    r0, r5
    pop     {r4-r7, pc}
    .ltorg
    .size   \name, . - \name
.endm

    DOT qhil_dot4_m0, 0x88, 0x1001, 0x000F000F, 4, 0

/*
 * void qhil_dot4_rows_m0(const uint8_t *rows, const uint32_t *xp, uint32_t row_bytes,
 *                        uint32_t count, int32_t *sums);
 * qhil_dot4_m0 for `count` rows lying one after the other, each in one sum (row_bytes at
 * most the chunk), taken apart as the caller of qhil_dot4_m0 does (H = (S - sign-extended
 * low half) >> 16): sums[i] is row i's H. Saves the call and the setup per row.
 */
    .global qhil_dot4_rows_m0
    .type   qhil_dot4_rows_m0, %function
    .thumb_func
qhil_dot4_rows_m0:
    push    {r4-r7, lr}
    mov     r4, r8
    mov     r5, r9
    mov     r6, r10
    mov     r7, r11
    push    {r4-r7}
    ldr     r4, [sp, #36]           /* sums, the fifth argument */
    lsls    r3, r3, #2
    adds    r3, r4, r3
    mov     r11, r3                 /* the end of sums */
    mov     r10, r4                 /* the next sum */
    mov     r8, r1                  /* xp */
    mov     r9, r2                  /* bytes a row */
    movs    r2, #0x88
    ldr     r3, =0x1001
    ldr     r4, =0x000F000F
5:
    mov     r1, r9
    adds    r6, r0, r1
    mov     lr, r6                  /* the row's end */
    lsrs    r1, r1, #2
    lsls    r1, r1, #2
    adds    r6, r0, r1
    mov     r12, r6                 /* the end of its whole turns */
    mov     r1, r8
    movs    r5, #0
    cmp     r0, r12
    beq     2f
1:
    BYTE    0, 4, 0
    BYTE    1, 4, 0
    BYTE    2, 4, 0
    BYTE    3, 4, 0
    adds    r0, r0, #4
    adds    r1, r1, #16
    cmp     r0, r12
    bne     1b
2:
    cmp     r0, lr
    beq     4f
3:
    BYTE    0, 4, 0
    adds    r0, r0, #1
    adds    r1, r1, #4
    cmp     r0, lr
    bne     3b
4:
    sxth    r6, r5
    subs    r5, r5, r6
    asrs    r5, r5, #16             /* H */
    mov     r6, r10
    stmia   r6!, {r5}
    mov     r10, r6
    cmp     r6, r11
    bne     5b
    pop     {r4-r7}
    mov     r8, r4
    mov     r9, r5
    mov     r10, r6
    mov     r11, r7
    pop     {r4-r7, pc}
    .ltorg
    .size   qhil_dot4_rows_m0, . - qhil_dot4_rows_m0

/*
 * void qhil_dot4_pieces_m0(const uint8_t *rows, const uint32_t *xp, uint32_t row_bytes,
 *                          uint32_t count, int32_t *sums, uint32_t chunk);
 * qhil_dot4_rows_m0 for rows longer than a chunk: each in pieces of `chunk`
 * bytes (the last one shorter), each piece's S = L + H 2^16 taken apart as the caller of
 * qhil_dot4_m0 does (H = (S - sign-extended low half) >> 16): sums[i] is the sum of row
 * i's H. Saves the call and the setup per row (row_bytes >= 1, chunk >= 1).
 */
    .global qhil_dot4_pieces_m0
    .type   qhil_dot4_pieces_m0, %function
    .thumb_func
qhil_dot4_pieces_m0:
    push    {r4-r7, lr}
    mov     r4, r8
    mov     r5, r9
    mov     r6, r10
    mov     r7, r11
    push    {r4-r7}
    sub     sp, sp, #16             /* [sp] the row's end, [sp+4] chunk, [sp+8] its sum */
    ldr     r4, [sp, #52]           /* sums, the fifth argument */
    ldr     r5, [sp, #56]           /* chunk, the sixth */
    str     r5, [sp, #4]
    mov     r10, r4                 /* the next sum */
    mov     r8, r1                  /* xp */
    mov     r9, r2                  /* bytes a row */
    mov     r11, r3                 /* rows left */
    movs    r2, #0x88
    ldr     r3, =0x1001
    ldr     r4, =0x000F000F
5:
    mov     r1, r9
    adds    r6, r0, r1
    str     r6, [sp]
    movs    r6, #0
    str     r6, [sp, #8]
    mov     r1, r8
6:
    ldr     r7, [sp]                /* the piece ends at the row's end or a chunk on */
    subs    r7, r7, r0
    ldr     r6, [sp, #4]
    cmp     r7, r6
    bls     7f
    movs    r7, r6
7:
    adds    r6, r0, r7
    mov     lr, r6
    lsrs    r7, r7, #2
    lsls    r7, r7, #2
    adds    r6, r0, r7
    mov     r12, r6
    movs    r5, #0
    cmp     r0, r12
    beq     2f
1:
    BYTE    0, 4, 0
    BYTE    1, 4, 0
    BYTE    2, 4, 0
    BYTE    3, 4, 0
    adds    r0, r0, #4
    adds    r1, r1, #16
    cmp     r0, r12
    bne     1b
2:
    cmp     r0, lr
    beq     4f
3:
    BYTE    0, 4, 0
    adds    r0, r0, #1
    adds    r1, r1, #4
    cmp     r0, lr
    bne     3b
4:
    sxth    r6, r5
    subs    r5, r5, r6
    asrs    r5, r5, #16             /* H */
    ldr     r6, [sp, #8]
    adds    r6, r6, r5
    str     r6, [sp, #8]
    ldr     r7, [sp]
    cmp     r0, r7
    bne     6b
    mov     r5, r10
    stmia   r5!, {r6}
    mov     r10, r5
    mov     r6, r11
    subs    r6, r6, #1
    mov     r11, r6
    bne     5b
    add     sp, sp, #16
    pop     {r4-r7}
    mov     r8, r4
    mov     r9, r5
    mov     r10, r6
    mov     r11, r7
    pop     {r4-r7, pc}
    .ltorg
    .size   qhil_dot4_pieces_m0, . - qhil_dot4_pieces_m0
    DOT qhil_dot2lo_m0, 0xAA, 0x4001, 0x00030003, 8, 0
    DOT qhil_dot2hi_m0, 0xAA, 0x4001, 0x00030003, 8, 1
#endif
