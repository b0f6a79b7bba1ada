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
