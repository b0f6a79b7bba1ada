/* Helpers shared by every kernel: the requantization twin of qhil.quant.requantize. */
#ifndef QHIL_NN_SUPPORT_H
#define QHIL_NN_SUPPORT_H

#include <stdint.h>

#include "qhil_nn.h"

/**
 * round_half_away(acc * mult / 2^shift), then saturate to [lo, hi].
 *
 * docs/quantization.md#requantization: one rounding step of the exact 64-bit product,
 * ties away from zero. mult is 0 or in [2^30, 2^31-1]; shift in [1, 62]; |acc| < 2^31,
 * so |acc * mult| < 2^62 and adding the rounding half cannot overflow int64.
 * The arithmetic right shift of a negative int64 is implementation-defined in C99; GCC
 * and Clang define it as flooring, which the rule relies on (checked in qhil_selftest).
 */
static inline int32_t qhil_nn_requantize(int32_t acc, int32_t mult, int32_t shift,
                                         int32_t lo, int32_t hi)
{
    int64_t p = (int64_t)acc * (int64_t)mult;
    int64_t q = (p + ((int64_t)1 << (shift - 1)) - (p < 0 ? 1 : 0)) >> shift;
    if (q < lo) {
        return lo;
    }
    if (q > hi) {
        return hi;
    }
    return (int32_t)q;
}

/**
 * TFLite Micro's MultiplyByQuantizedMultiplier (docs/quantization.md#the-tflite-arithmetic):
 * acc * 2^l through the saturating rounding doubling high multiply, then a rounding divide
 * by 2^r, with l = max(e, 0) and r = max(-e, 0); e in [-31, 30], mult 0 or in
 * [2^30, 2^31-1]. The loader's bound keeps |acc| * 2^l below 2^31. Twin of
 * qhil.quant.tflite_requant.requantize_tflite.
 */
static inline int32_t qhil_nn_requantize_tflite(int32_t acc, int32_t mult, int32_t e)
{
    const int32_t a = e > 0 ? (int32_t)((uint32_t)acc << e) : acc;
    const int64_t p = (int64_t)a * (int64_t)mult;
    const int64_t nudge = p >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    const int32_t h = (int32_t)((p + nudge) / ((int64_t)1 << 31)); /* C: toward zero */
    if (e >= 0) {
        return h;
    }
    const int32_t r = -e;
    const int32_t mask = (int32_t)(((uint32_t)1 << r) - 1u);
    const int32_t rem = h & mask;
    const int32_t thr = (mask >> 1) + (h < 0 ? 1 : 0);
    return (h >> r) + (rem > thr ? 1 : 0);
}

/**
 * qhil_nn_requantize, same results, fewer instructions (used by optimized kernels).
 *
 * With neg = (acc < 0) -- equal to (acc * mult < 0) whenever mult > 0, and harmless when
 * mult == 0 because (2^(n-1) - 1) >> n == 0 -- and n > 32, floor divisions compose:
 *   (p - neg + 2^(n-1)) >> n == ((hi32(p - neg)) + 2^(n-33)) >> (n-32)
 * so only the high word of the product takes part; |hi32| < 2^30 cannot overflow.
 * Shifts up to 32 take the general path. Tested against the reference in test_kernels.c.
 */
/**
 * The high word of the 64-bit product a * m (m >= 0), floor((a * m) / 2^32), from four
 * 16x16 multiplies: ARMv6-M has no 32x32->64 multiply, and the library's 64x64 one costs
 * about 40 instructions. Tested against the 64-bit product in test_kernels.c.
 */
static inline int32_t qhil_nn_mulhi(int32_t a, int32_t m)
{
    const uint32_t al = (uint32_t)a & 0xFFFFu;
    const int32_t ah = a >> 16; /* arithmetic: GCC and Clang */
    const uint32_t ml = (uint32_t)m & 0xFFFFu;
    const int32_t mh = m >> 16;
    const uint32_t t = ((al * ml) >> 16) + al * (uint32_t)mh; /* < 2^31 + 2^16 */
    const int32_t hl = ah * (int32_t)ml;                       /* |hl| < 2^31 */
    /* (hl + t) >> 16 without a 64-bit sum: high halves, then the carry of the low ones */
    const uint32_t carry = (((uint32_t)hl & 0xFFFFu) + (t & 0xFFFFu)) >> 16;
    const int32_t mid = (hl >> 16) + (int32_t)(t >> 16) + (int32_t)carry;
    return ah * mh + mid;
}

/**
 * hi32(acc * mult - neg), neg = (acc < 0), without a 64-bit multiply: one less than
 * hi32(acc * mult) exactly when subtracting neg borrows from a zero low word.
 */
static inline int32_t qhil_nn_hi32_minus_neg(int32_t acc, int32_t mult)
{
    int32_t h = qhil_nn_mulhi(acc, mult);
    if (acc < 0 && (uint32_t)acc * (uint32_t)mult == 0u) {
        h -= 1;
    }
    return h;
}

static inline int32_t qhil_nn_requantize_fast(int32_t acc, int32_t mult, int32_t shift,
                                              int32_t lo, int32_t hi)
{
    int32_t q;
    if (shift > 32) {
#if defined(__ARM_ARCH_6M__)
        int32_t h = qhil_nn_hi32_minus_neg(acc, mult);
#else
        int64_t x = (int64_t)acc * (int64_t)mult - (acc < 0 ? 1 : 0);
        int32_t h = (int32_t)(x >> 32);
#endif
        q = (h + (1 << (shift - 33))) >> (shift - 32);
    } else {
        return qhil_nn_requantize(acc, mult, shift, lo, hi);
    }
    if (q < lo) {
        return lo;
    }
    return q > hi ? hi : q;
}

/** Sign-extend the low `bits` bits of `v`. */
static inline int32_t qhil_nn_sign_extend(uint32_t v, uint32_t bits)
{
    uint32_t m = 1u << (bits - 1u);
    v &= (1u << bits) - 1u;
    return (int32_t)(v ^ m) - (int32_t)m;
}

/**
 * Code k of a packed row (docs/model-format.md#weights), sign-extended. A code of at most
 * 8 bits spans at most two bytes; the second is read only when the code reaches into it,
 * so the read never passes the end of the row.
 */
static inline int32_t qhil_nn_unpack_code(const uint8_t *row, uint32_t k, uint32_t bits)
{
    uint32_t bit = k * bits;
    uint32_t byte = bit >> 3;
    uint32_t offset = bit & 7u;
    uint32_t v = (uint32_t)row[byte] >> offset;
    if (offset + bits > 8u) {
        v |= (uint32_t)row[byte + 1u] << (8u - offset);
    }
    return qhil_nn_sign_extend(v, bits);
}

/** Bytes in one packed weight row of n_in codes of `bits` bits. */
static inline uint32_t qhil_nn_row_bytes(uint32_t n_in, uint32_t bits)
{
    return (n_in * bits + 7u) / 8u;
}

/**
 * Weight w[i][k] of a layer in any layout (docs/model-format.md#layouts): rows are
 * separate byte-aligned streams; a blocked layout is one stream in which w[i][k] is code
 * ((i / R) * C + k / G) * R * G + (i % R) * G + k % G, C = ceil(n_in / G). Padding rows
 * and inputs (i up to a whole block, k up to a whole group) read as their stored zeros.
 */
static inline int32_t qhil_fc_weight(const qhil_fc_params *p, uint32_t i, uint32_t k)
{
    const uint32_t g = p->layout_group;
    if (g == 0u) {
        return qhil_nn_unpack_code(p->weights + i * qhil_nn_row_bytes(p->n_in, p->w_bits), k,
                                   p->w_bits);
    }
    const uint32_t r = p->layout_rows;
    const uint32_t groups = (p->n_in + g - 1u) / g;
    const uint32_t t = ((i / r) * groups + k / g) * r * g + (i % r) * g + k % g;
    return qhil_nn_unpack_code(p->weights, t, p->w_bits);
}

/** Bytes of a layer's weights section in its layout. */
static inline uint32_t qhil_fc_weight_bytes(const qhil_fc_params *p)
{
    const uint32_t g = p->layout_group;
    if (g == 0u) {
        return p->n_out * qhil_nn_row_bytes(p->n_in, p->w_bits);
    }
    const uint32_t r = p->layout_rows;
    return (p->n_out + r - 1u) / r * ((p->n_in + g - 1u) / g) * r * g * p->w_bits / 8u;
}

#endif
