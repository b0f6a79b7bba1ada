/*
 * qhil_requant_{relu,sat}<A>: raw row sums -> output codes through the per-row records
 * made at load (qhil_fc_rq in qhil_nn.h; the arithmetic is explained at make_records in
 * qhil_fc_opt_dsp.c). One entry point per activation width, because USAT/SSAT take the
 * width as an immediate: ReLU layers saturate to [0, 2^A - 1] (A <= 8), the others to
 * A signed bits (A <= 10: a tanh layer's table index has up to 10).
 *
 *   void qhil_requant_relu4(const int32_t *acc, const qhil_fc_rq *rq, int16_t *out,
 *                           uint32_t n);
 *
 * 12 instructions a row. n >= 1.
 */
    .syntax unified
    .thumb
    .text

.macro REQUANT name, sat, bits
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    push    {r4-r9, lr}
    add     r3, r2, r3, lsl #1
1:
    ldr     r12, [r0], #4
    ldmia   r1!, {r4-r8}            /* bias, mult, round, rsh, lsl */
    add     r12, r12, r4
    lsl     r12, r12, r8
    asr     r9, r12, #31            /* lo = -neg */
    add     r6, r6, r9              /* hi = round - neg */
    smlal   r9, r6, r12, r5
    asr     r6, r6, r7
    \sat    r6, #\bits, r6
    strh    r6, [r2], #2
    cmp     r2, r3
    bne     1b
    pop     {r4-r9, pc}
    .size   \name, . - \name
.endm

    .irp bits, 2, 3, 4, 5, 6, 7, 8
    REQUANT qhil_requant_relu\bits, usat, \bits
    .endr
    .irp bits, 2, 3, 4, 5, 6, 7, 8, 9, 10
    REQUANT qhil_requant_sat\bits, ssat, \bits
    .endr
