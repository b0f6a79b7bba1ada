/*
 * Helium (MVE) kernel for the Cortex-M55 (ARMv8.1-M with the M-profile Vector Extension).
 *
 * int8 rows are read where the blob keeps them: no copy at load. Four rows at a time
 * (qhil_mat4_s8_mve.S), in a tail-predicated loop that reads nothing past a row. When the
 * layer's inputs fit a byte (narrow: signed 8-bit codes, or a ReLU's 8-bit activations
 * with the weights' sign bits flipped and 128 * sum(x) taken off after), sixteen inputs a
 * turn in byte lanes: 10 instructions (14 for unsigned inputs) for 64 MACs; otherwise
 * eight a turn, the codes sign-extended to halfwords: 10 for 32. The rows left over
 * (n_out mod 4) run one at a time under VCTP.
 *
 * Four sums at a time are then requantized in 32-bit lanes (requantize_s8), by
 * qhil_nn_requantize_fast's identity: the high word of the product (VMULH), the rounding
 * half and the shift in one VRSHL, the clamp and a narrowing store; lanes with a shift of
 * 32 or less are scaled up first (raise_shifts), or, where that could overflow, the pass
 * takes the scalar path.
 *
 * Other widths, and blocked layouts, run the portable C kernel.
 */
#include <arm_mve.h>
#include <stddef.h>

#include "qhil_nn.h"
#include "qhil_nn_support.h"

#if !defined(__ARM_FEATURE_MVE)
#error "qhil_fc_opt_mve.c needs the M-profile Vector Extension (-mcpu=cortex-m55)"
#endif

const char *const qhil_fc_opt_name = "mve";
const uint8_t qhil_fc_opt_variant = 3;

uint32_t qhil_fc_scratch_size(const qhil_fc_params *p)
{
    return 4u * p->n_out + p->n_in; /* the raw sums, then the inputs as bytes */
}

uint32_t qhil_fc_opt_prepare(qhil_fc_params *p, uint8_t *mem, uint32_t cap, int widen)
{
    (void)mem;
    (void)cap;
    (void)widen;
    p->repacked = NULL;
    p->rq = NULL;
    p->kernel_bits = 0;
    return 0;
}

void qhil_mat4_s8_mve(const int16_t *x, const int8_t *w, uint32_t n, uint32_t blocks,
                      int32_t *acc);
void qhil_mat4_s8x8_mve(const int8_t *x, const int8_t *w, uint32_t n, uint32_t blocks,
                        int32_t *acc);
void qhil_mat4_u8x8_mve(const uint8_t *x, const int8_t *w, uint32_t n, uint32_t blocks,
                        int32_t *acc);

/* How the inputs fit a byte lane, which halves the loop (qhil_mat4_s8_mve.S). */
typedef enum { LANES_S16, LANES_S8, LANES_U8 } lanes;

/*
 * The inputs' range decides the lanes: all in [-128, 127] (signed codes of at most 8
 * bits: a first layer, a tanh layer's outputs) or all in [0, 255] (a ReLU layer's 8-bit
 * activations) are narrowed to bytes in `bytes`; else the halfword loop takes them as
 * they are. `*sum` is their sum: the u8x8 loop adds 128 * sum(x) too many.
 */
static lanes narrow(const int16_t *in, uint32_t n, uint8_t *bytes, int32_t *sum)
{
    int16x8_t lo = vdupq_n_s16(INT16_MAX);
    int16x8_t hi = vdupq_n_s16(INT16_MIN);
    int32_t total = 0;
    uint32_t k = 0;
    /* one pass: range, bytes (kept only if the range allows) and sum; whole vectors
     * unpredicated, the rest under one tail predicate */
    for (; k + 8u <= n; k += 8u) {
        const int16x8_t x = vldrhq_s16(in + k);
        lo = vminq_s16(lo, x);
        hi = vmaxq_s16(hi, x);
        vstrbq_s16((int8_t *)bytes + k, x);
        total = vaddvaq_s16(total, x);
    }
    if (k < n) {
        const mve_pred16_t part = vctp16q(n - k);
        const int16x8_t x = vldrhq_z_s16(in + k, part);
        lo = vminq_m_s16(lo, lo, x, part);
        hi = vmaxq_m_s16(hi, hi, x, part);
        vstrbq_p_s16((int8_t *)bytes + k, x, part);
        total = vaddvaq_p_s16(total, x, part);
    }
    const int32_t min = vminvq_s16(INT16_MAX, lo);
    const int32_t max = vmaxvq_s16(INT16_MIN, hi);
    *sum = total;
    return (min >= -128 && max <= 127) ? LANES_S8
           : (min >= 0 && max <= 255) ? LANES_U8 : LANES_S16;
}

/*
 * The identity below needs n > 32. A lane with a shift of 32 or less is scaled up by
 * 2^(33 - shift) with its shift raised to 33 (the product only gains zero low bits, so the
 * floor of the tie-broken quotient is unchanged), which holds while the scaled sum fits
 * int32 with room for |a|. Returns 0 when some lane does not: the pass goes scalar.
 */
static int raise_shifts(int32x4_t *a, int32x4_t *shift)
{
    const int32x4_t lsl = vmaxq_s32(vsubq_s32(vdupq_n_s32(33), *shift), vdupq_n_s32(0));
    const int32x4_t scaled = vshlq_s32(*a, lsl);
    const int32x4_t lost = veorq_s32(vshlq_s32(scaled, vnegq_s32(lsl)), *a);
    if (vmaxvq_u32(0u, vreinterpretq_u32_s32(lost)) != 0u ||
        vminvq_s32(INT32_MAX, vabsq_s32(scaled)) < 0) {
        return 0;
    }
    *a = scaled;
    *shift = vaddq_s32(*shift, lsl);
    return 1;
}

/* Rows 0..4*blocks-1 from their raw sums less `excess`, four a pass. */
static void requantize_s8(const qhil_fc_params *p, const int32_t *acc, int32_t excess,
                          uint32_t blocks, int16_t *out)
{
    const int32x4_t lo = vdupq_n_s32(p->out_min);
    const int32x4_t hi = vdupq_n_s32(p->out_max);
    const int32x4_t v32 = vdupq_n_s32(32);
    for (uint32_t i = 0; i < 4u * blocks; i += 4u) {
        int32x4_t a = vsubq_n_s32(vaddq_s32(vldrwq_s32(acc + i), vldrwq_s32(p->bias + i)),
                                  excess);
        int32x4_t shift = vldrwq_s32(p->shift + i);
        if (vminvq_s32(INT32_MAX, shift) <= 32 && !raise_shifts(&a, &shift)) {
            for (uint32_t j = i; j < i + 4u; j++) {
                out[j] = (int16_t)qhil_nn_requantize(acc[j] - excess + p->bias[j], p->mult[j],
                                                     p->shift[j], p->out_min, p->out_max);
            }
            continue;
        }
        /* hi32(a * mult - neg), neg = (a < 0): for a < 0 it is
         * floor((a m - 1) / 2^32) = -floor(|a| m / 2^32) - 1 = ~hi32(|a| m), so one
         * multiply of |a| and an XOR with the sign (|a| < 2^31: no overflow) */
        const int32x4_t sign = vshrq_n_s32(a, 31);
        const int32x4_t high = veorq_s32(vmulhq_s32(vabsq_s32(a), vldrwq_s32(p->mult + i)),
                                         sign);
        /* (high + 2^(n-33)) >> (n-32) is VRSHL's rounding right shift by n - 32 */
        const int32x4_t q = vrshlq_s32(high, vsubq_s32(v32, shift));
        vstrhq_s32(out + i, vminq_s32(vmaxq_s32(q, lo), hi));
    }
}

static void rows_s8(const qhil_fc_params *p, const int16_t *in, int16_t *out, int32_t *acc)
{
    const uint32_t n = p->n_in;
    const uint32_t blocks = p->n_out / 4u;
    if (blocks > 0u) {
        const int8_t *w = (const int8_t *)p->weights;
        uint8_t *bytes = (uint8_t *)(acc + 4u * blocks);
        int32_t sum = 0;
        int32_t excess = 0;
        switch (narrow(in, n, bytes, &sum)) {
        case LANES_S8:
            qhil_mat4_s8x8_mve((const int8_t *)bytes, w, n, blocks, acc);
            break;
        case LANES_U8:
            qhil_mat4_u8x8_mve(bytes, w, n, blocks, acc);
            excess = 128 * sum;
            break;
        default:
            qhil_mat4_s8_mve(in, w, n, blocks, acc);
            break;
        }
        requantize_s8(p, acc, excess, blocks, out);
    }
    for (uint32_t i = 4u * blocks; i < p->n_out; i++) {
        const int8_t *w = (const int8_t *)p->weights + i * n;
        int32_t a = p->bias[i];
        for (uint32_t k = 0; k < n; k += 8u) {
            const mve_pred16_t part = vctp16q(n - k);
            a = vmladavaq_p_s16(a, vldrbq_z_s16(w + k, part), vldrhq_z_s16(in + k, part), part);
        }
        out[i] = (int16_t)qhil_nn_requantize_fast(a, p->mult[i], p->shift[i], p->out_min,
                                                  p->out_max);
    }
}

void qhil_fc_opt(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    if (p->w_bits == 8u && p->layout_group == 0u) {
        rows_s8(p, in, out, (int32_t *)scratch);
    } else {
        qhil_fc_opt_c(p, in, out, scratch);
    }
}
