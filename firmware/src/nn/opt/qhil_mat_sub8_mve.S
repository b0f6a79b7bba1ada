/*
 * Rows of packed 4-bit or 2-bit weights against int8 inputs (Cortex-M55, Helium),
 * unpacked in registers:
 *
 *   void qhil_mat_s4_mve(const int8_t *x, const uint8_t *w, uint32_t row_bytes,
 *                        uint32_t rows, int32_t *acc, const int32_t *unused);
 *   void qhil_mat_s2_mve(const int8_t *x, const uint8_t *w, uint32_t row_bytes,
 *                        uint32_t rows, int32_t *acc, const int32_t *unused);
 *
 * w    packed rows of row_bytes bytes each, the blob's own rows
 *      (docs/model-format.md#weights: code k in bits k*b .. k*b+b-1 of the row)
 * x    the inputs regrouped by the codes' place in a byte, 16 byte lanes a group: for
 *      byte j of a turn's 16 (inputs 32t+2j and 32t+2j+1 at 4 bits), the 4-bit loop reads
 *      the first code's input from group 0 and the second's from group 1, each group
 *      16 bytes, two per turn; the 2-bit loop four groups (inputs 64t+4j+g). Inputs past
 *      the row's last code are 0, so the padding bits never count.
 * acc  [rows] written: 2^(8-b) * sum_k w[i][k] x[k] (the codes are read in the high
 *      bits of a byte); the caller shifts the sums back. |sum| < 2^31 / 2^(8-b) holds for
 *      byte inputs and n <= 1024.
 *
 * A code in the high bits of its byte is its value times 2^(8-b): the byte masked (the
 * top code) or shifted left (the others, then masked) is a signed byte lane VMLADAVA
 * multiplies as it is, with no sign extension. 4-bit: 5 instructions a row for 32 MACs,
 * 23 a turn of four rows (0.18 a MAC); 2-bit: 11 a row for 64 MACs, 49 a turn (0.19).
 * Four rows a turn, the rows left one a turn: the loops are qhil_mat_mve.inc's.
 */
    .syntax unified
    .thumb
    .text

#include "qhil_mat_mve.inc"

.macro SETUP_qhil_mat_s4_mve
    vmov.i8 q6, #0xf0               /* the high code of a byte, in place */
.endm

.macro ROW_S4 row, acc
    vldrb.u8 q2, [\row], #16
    vshl.i8 q4, q2, #4              /* the low code, times 16 */
    vmladava.s8 \acc, q4, q0
    vand    q2, q2, q6              /* the high code, times 16 */
    vmladava.s8 \acc, q2, q1
.endm

.macro TURN1_qhil_mat_s4_mve
    vldrb.u8 q0, [r11], #16
    vldrb.u8 q1, [r11], #16
    ROW_S4 r1, r4
.endm

.macro TURN_qhil_mat_s4_mve
    vldrb.u8 q0, [r11], #16
    vldrb.u8 q1, [r11], #16
    ROW_S4 r1, r4
    ROW_S4 r3, r6
    ROW_S4 r5, r8
    ROW_S4 r7, r10
.endm

.macro SETUP_qhil_mat_s2_mve
    vmov.i8 q6, #0xc0               /* the top code of a byte, in place */
.endm

.macro ROW_S2 row, acc
    vldrb.u8 q2, [\row], #16
    vshl.i8 q4, q2, #6              /* code 0, times 64 */
    vmladava.s8 \acc, q4, q0
    vshl.i8 q4, q2, #4              /* code 1 */
    vand    q4, q4, q6
    vmladava.s8 \acc, q4, q1
    vshl.i8 q4, q2, #2              /* code 2 */
    vand    q4, q4, q6
    vmladava.s8 \acc, q4, q3
    vand    q2, q2, q6              /* code 3 */
    vmladava.s8 \acc, q2, q5
.endm

.macro TURN1_qhil_mat_s2_mve
    vldrb.u8 q0, [r11], #16
    vldrb.u8 q1, [r11], #16
    vldrb.u8 q3, [r11], #16
    vldrb.u8 q5, [r11], #16
    ROW_S2 r1, r4
.endm

.macro TURN_qhil_mat_s2_mve
    vldrb.u8 q0, [r11], #16
    vldrb.u8 q1, [r11], #16
    vldrb.u8 q3, [r11], #16
    vldrb.u8 q5, [r11], #16
    ROW_S2 r1, r4
    ROW_S2 r3, r6
    ROW_S2 r5, r8
    ROW_S2 r7, r10
.endm

    MAT qhil_mat_s4_mve, 8, 16, zero
    MAT qhil_mat_s2_mve, 8, 16, zero

/*
 * void qhil_mat_s3_mve(const qhil_fc_params *p, const int8_t *x, uint32_t n, int32_t *acc);
 *
 * 3-bit rows (row_bytes = ceil(3n / 8), codes packed from bit 0 up) against n int8 inputs:
 * acc[i] = sum_k w[i][k] x[k], without the bias. Sixteen codes (six bytes) a turn: code j of
 * the turn starts at bit s = 3j mod 8 of byte floor(3j / 8); two byte gathers fetch that
 * byte and the next, shifting them left by 5 - s and 13 - s (right where negative; 8 or
 * more leaves nothing) puts the code in bits 5-7, and an arithmetic shift right by 5 makes
 * it a signed byte lane: 7 instructions a row for 16 MACs, 34 a turn of four rows. The
 * second gather may read the byte after a row's last one (inside the blob: sections are
 * followed by others or by the CRC). Rows four at a time, the rest one at a time, in
 * tail-predicated loops over the codes.
 */
.macro ROW_S3 row, acc
    vldrb.u8 q1, [\row, q3]
    vldrb.u8 q2, [\row, q4]
    adds    \row, \row, #6
    vshl.u8 q1, q1, q5
    vshl.u8 q2, q2, q6
    vorr    q1, q1, q2
    vshr.s8 q1, q1, #5
    vmladava.s8 \acc, q1, q0
.endm

    .global qhil_mat_s3_mve
    .type   qhil_mat_s3_mve, %function
    .thumb_func
qhil_mat_s3_mve:
    push    {r4-r11, lr}
    vpush   {d8-d13}
    sub     sp, sp, #16             /* [sp] x, [sp+4] padding, [sp+8] single rows */
    mov     r12, r3                 /* acc */
    str     r1, [sp]
    mov     r9, r2                  /* codes a row */
    add     r2, r2, r2, lsl #1
    adds    r2, r2, #7
    lsrs    r2, r2, #3              /* bytes a row */
    add     r10, r9, #15
    lsrs    r10, r10, #4
    add     r10, r10, r10, lsl #1
    lsls    r10, r10, #1            /* six bytes a turn */
    subs    r10, r10, r2
    str     r10, [sp, #4]           /* how far a row pointer runs past its row */
    ldrh    r3, [r0, #QHIL_FC_N_OUT]
    and     r10, r3, #3
    str     r10, [sp, #8]
    ldr     r1, [r0, #QHIL_FC_WEIGHTS]
    adr     r10, 7f
    vldrw.u32 q3, [r10]             /* byte of each code */
    vldrw.u32 q4, [r10, #16]        /* the byte after it */
    vldrw.u32 q5, [r10, #32]        /* 5 - s */
    vldrw.u32 q6, [r10, #48]        /* 13 - s */
    lsrs    r0, r3, #2              /* blocks */
    beq     3f
1:
    movs    r4, #0
    movs    r6, #0
    movs    r8, #0
    movs    r10, #0
    add     r3, r1, r2
    add     r5, r3, r2
    add     r7, r5, r2
    ldr     r11, [sp]
    dlstp.8 lr, r9
2:
    vldrb.u8 q0, [r11], #16
    ROW_S3  r1, r4
    ROW_S3  r3, r6
    ROW_S3  r5, r8
    ROW_S3  r7, r10
    letp    lr, 2b
    ldr     r3, [sp, #4]
    stmia   r12!, {r4, r6, r8, r10}
    sub     r1, r7, r3
    subs    r0, r0, #1
    bne     1b
3:
    ldr     r0, [sp, #8]
    cbz     r0, 5f
4:
    movs    r4, #0
    ldr     r11, [sp]
    dlstp.8 lr, r9
6:
    vldrb.u8 q0, [r11], #16
    ROW_S3  r1, r4
    letp    lr, 6b
    ldr     r3, [sp, #4]
    str     r4, [r12], #4
    sub     r1, r1, r3
    subs    r0, r0, #1
    bne     4b
5:
    add     sp, sp, #16
    vpop    {d8-d13}
    pop     {r4-r11, pc}
    .align  4
7:
    .byte   0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5
    .byte   1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6
    .byte   5, 2, -1, 4, 1, -2, 3, 0, 5, 2, -1, 4, 1, -2, 3, 0
    .byte   13, 10, 7, 12, 9, 6, 11, 8, 13, 10, 7, 12, 9, 6, 11, 8
    .size   qhil_mat_s3_mve, . - qhil_mat_s3_mve
