/*
 * One layer on the Helium kernel, from the int16 codes in to the int16 codes out
 * (Cortex-M55): the inputs made into the lanes the row loop reads, the row loop, the
 * requantization.
 *
 *   void qhil_run_<lanes>_mve(const qhil_fc_params *p, const int16_t *in, int16_t *out,
 *                             void *scratch);
 *
 * scratch holds the sums (p->n_out rounded up to 4 words), then the input bytes.
 * s16: the int16 codes as they are (qhil_mat_s8_mve); s8, s8_short, u8: the codes as
 * bytes, less 128 for u8 (qhil_mat_s8x8_mve, or _short for rows of at most 16); s4, s2:
 * the codes regrouped (qhil_regroup_mve, qhil_regroup128_mve for x - 128) for the
 * sub-byte loops, whose sums come 2^4 or 2^6 times too large and without the starting
 * sums (qhil_requant_down_mve adds p->acc_init); s3: the codes as bytes
 * for the 3-bit loop, whose sums come without the bias (the same, shifted by 0). The requantization
 * is the fast one when bit 0 of p->kernel_mode says every shift exceeds 32, else the
 * general one; it is a tail call. In assembly because the compiler's version of this
 * glue cost about 50 instructions a layer, this about 25.
 */
    .syntax unified
    .thumb
    .text

#include "qhil_mat_mve.inc"

/* The inputs regrouped by `fn` for a sub-byte loop; then r2 is the bytes a row, r1 the
 * regrouped inputs. */
.macro REGROUP fn, down
    mov     r0, r1
    mov     r1, r2
    movs    r2, #(\down / 2 - 1)    /* log2 of the groups: 1 at 4 bits, 2 at 2 bits */
    mov     r3, r7
    bl      \fn
    ldrh    r2, [r4, #QHIL_FC_N_IN]
    ldrb    r3, [r4, #QHIL_FC_W_BITS]
    mul     r2, r2, r3
    adds    r2, r2, #7
    lsrs    r2, r2, #3              /* bytes a row */
    mov     r1, r7
.endm

.macro RUN name, mat, inputs, down, bias=0
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    push    {r4-r8, lr}
    mov     r4, r0                  /* p */
    mov     r5, r2                  /* out */
    mov     r6, r3                  /* the sums */
    ldrh    r7, [r0, #QHIL_FC_N_OUT]
    adds    r7, r7, #3
    bic     r7, r7, #3
    add     r7, r6, r7, lsl #2      /* the input bytes */
    ldrh    r2, [r0, #QHIL_FC_N_IN]
    .ifc \inputs, s16
    .endif
    .ifc \inputs, bytes
    mov     r3, r7
    dlstp.16 lr, r2
1:
    vldrh.u16 q0, [r1], #16
    vstrb.16 q0, [r3], #8
    letp    lr, 1b
    mov     r1, r7
    .endif
    .ifc \inputs, bytes_less_128
    movs    r3, #128
    vdup.16 q1, r3
    mov     r3, r7
    dlstp.16 lr, r2
1:
    vldrh.u16 q0, [r1], #16
    vsub.i16 q0, q0, q1
    vstrb.16 q0, [r3], #8
    letp    lr, 1b
    mov     r1, r7
    .endif
    .ifc \inputs, groups
    REGROUP qhil_regroup_mve, \down
    .endif
    .ifc \inputs, groups128
    REGROUP qhil_regroup128_mve, \down
    .endif
    mov     r0, r4
    mov     r3, r6
    bl      \mat
    mov     r0, r4
    mov     r1, r6
    mov     r2, r5
    movs    r3, #\down
    ldrb    r12, [r4, #QHIL_FC_KERNEL_MODE]
    tst     r12, #1
    pop     {r4-r8, lr}
    .if \down + \bias
    bne.w   qhil_requant_down_mve
    b.w     qhil_requant_any_down_mve
    .else
    bne.w   qhil_requant_mve
    b.w     qhil_requant_any_mve
    .endif
    .size   \name, . - \name
.endm

    RUN qhil_run_s16_mve, qhil_mat_s8_mve, s16, 0
    RUN qhil_run_s8_mve, qhil_mat_s8x8_mve, bytes, 0
    RUN qhil_run_s8_short_mve, qhil_mat_s8x8_short_mve, bytes, 0
    RUN qhil_run_u8_mve, qhil_mat_s8x8_mve, bytes_less_128, 0
    RUN qhil_run_s4_mve, qhil_mat_s4_mve, groups, 4
    RUN qhil_run_s2_mve, qhil_mat_s2_mve, groups, 6
    RUN qhil_run_s3_mve, qhil_mat_s3_mve, bytes, 0, 1
    RUN qhil_run_s4u_mve, qhil_mat_s4_mve, groups128, 4
    RUN qhil_run_s2u_mve, qhil_mat_s2_mve, groups128, 6
    RUN qhil_run_s3u_mve, qhil_mat_s3_mve, bytes_less_128, 0, 1
