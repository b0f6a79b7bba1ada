/*
 * Requantization of a layer's sums, four rows a turn (Cortex-M55, Helium), in a
 * tail-predicated loop:
 *
 *   void qhil_requant_mve(const qhil_fc_params *p, const int32_t *acc, int16_t *out,
 *                         int32_t unused);
 *   void qhil_requant_down_mve(const qhil_fc_params *p, const int32_t *acc, int16_t *out,
 *                              int32_t down);
 *
 *   qhil_requant_any_mve, qhil_requant_any_down_mve: the same arguments, any shift
 *
 * out[i] = clamp(qhil_nn_requantize(a, p->mult[i], p->shift[i]), p->out_min, p->out_max)
 * for i < p->n_out with a = acc[i], or (acc[i] >> down) + p->acc_init[i] in the _down
 * forms (the sub-byte loops' sums, read times 2^down, and their starting sums: the bias,
 * or with inputs taken less 128 the bias plus 128 sum(w)). |a| < 2^31, mult in {0} or
 * [2^30, 2^31), shift in [1, 62]. The fields are read at the offsets qhil_mat_mve.inc
 * names.
 *
 * Every shift above 32 (qhil_requant_mve; the caller checks at load): with
 * neg = (a < 0), hi32(a * m - neg) is ~hi32(|a| * m) for a < 0 (floor((a m - 1) / 2^32)
 * = -floor(|a| m / 2^32) - 1): one VMULH of |a| and an XOR with the sign; then
 * (high + 2^(s-33)) >> (s-32) is VRSHL's rounding right shift by s - 32. 13 instructions
 * for four rows (16 with the shift down and the bias). |a| m < 2^62: VMULH may be the
 * unsigned one.
 *
 * Any shift (the _any forms): a lane with a shift s of 32 or less takes |a| 2^(33-s)
 * and the shift 33 (s' = max(s, 33)), which changes nothing while |a| 2^(33-s) < 2^32
 * (the product only gains zero low bits); when it does not fit, the true result is at
 * least 2^(31-33+s) 2^30 / 2^s = 2^28 and the saturated |a| (2^32 - 1) also lands far
 * beyond any limit, with its sign. VMULH is unsigned (|a| may reach 2^32 - 1; the high
 * word stays below 2^31). 16 instructions for four rows (19 with the shift down and the
 * bias).
 */
    .syntax unified
    .thumb
    .text

#include "qhil_mat_mve.inc"

.macro REQUANT name, down, any
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    push    {r4-r7, lr}
    vpush   {d8-d15}
    mov     r4, r2                  /* out */
    .if \down
    ldr     r6, [r0, #QHIL_FC_ACC_INIT]
    rsbs    r7, r3, #0              /* VSHL by a negative count shifts right */
    .endif
    ldrd    r12, r5, [r0, #QHIL_FC_OUT_MIN]
    vdup.32 q4, r12                 /* the clamp's low end */
    vdup.32 q5, r5                  /* its high end */
    ldrh    r3, [r0, #QHIL_FC_N_OUT]
    ldrd    r5, r2, [r0, #QHIL_FC_MULT]  /* mult, shift */
    mov     r0, r1                  /* acc */
    mov     r1, r5

    .if \any
    movs    r12, #33
    vdup.32 q6, r12
    .endif
    movs    r12, #32
    vdup.32 q7, r12
    dlstp.32 lr, r3
1:
    vldrw.u32 q0, [r0], #16
    .if \down
    vshl.s32 q0, r7
    vldrw.u32 q3, [r6], #16
    vadd.i32 q0, q0, q3
    .endif
    vldrw.u32 q2, [r2], #16
    vabs.s32 q3, q0
    vshr.s32 q0, q0, #31            /* the sign, all ones or zero */
    .if \any
    vmax.s32 q1, q2, q6             /* s' = max(s, 33) */
    vsub.i32 q2, q1, q2
    vqshl.u32 q3, q3, q2            /* |a| 2^(s'-s), saturated */
    vsub.i32 q2, q7, q1             /* 32 - s' */
    .else
    vsub.i32 q2, q7, q2             /* 32 - s */
    .endif
    vldrw.u32 q1, [r1], #16
    vmulh.u32 q3, q3, q1
    veor    q0, q3, q0
    vrshl.s32 q0, q0, q2
    vmax.s32 q0, q0, q4
    vmin.s32 q0, q0, q5
    vstrh.32 q0, [r4], #8
    letp    lr, 1b
    vpop    {d8-d15}
    pop     {r4-r7, pc}
    .size   \name, . - \name
.endm

    REQUANT qhil_requant_mve, 0, 0
    REQUANT qhil_requant_down_mve, 1, 0
    REQUANT qhil_requant_any_mve, 0, 1
    REQUANT qhil_requant_any_down_mve, 1, 1
