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
 * acc holds the sums with the bias in them (the loops start from it). 9.5 instructions a
 * row. n >= 1.
 */
    .syntax unified
    .thumb
    .text

/* Sum A (bias included) -> one output code; record {mult, round, rsh, lsl} from r1. */
.macro ROW a, sat, bits
    ldmia   r1!, {r4-r7}            /* mult, round, rsh, lsl */
    lsl     \a, \a, r7
    asr     r8, \a, #31            /* lo = -neg */
    add     r5, r5, r8              /* hi = round - neg */
    smlal   r8, r5, \a, r4
    asr     r5, r5, r6
    \sat    r5, #\bits, r5
    strh    r5, [r2], #2
.endm

/* Two rows a turn; an odd count does one first. No instruction of ROW sets N, Z or C,
 * so the flags of the count's halving still say whether pairs are left. */
.macro REQUANT name, sat, bits
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    push    {r4-r10, lr}
    lsrs    r3, r3, #1
    bcc     2f
    ldr     r9, [r0], #4
    ROW     r9, \sat, \bits
    beq     3f
2:
    ldmia   r0!, {r9, r10}
    ROW     r9, \sat, \bits
    ROW     r10, \sat, \bits
    subs    r3, r3, #1
    bne     2b
3:
    pop     {r4-r10, pc}
    .size   \name, . - \name
.endm

    .irp bits, 2, 3, 4, 5, 6, 7, 8
    REQUANT qhil_requant_relu\bits, usat, \bits
    .endr
    .irp bits, 2, 3, 4, 5, 6, 7, 8, 9, 10
    REQUANT qhil_requant_sat\bits, ssat, \bits
    .endr
