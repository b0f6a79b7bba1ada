/* Helpers shared by every kernel: the requantization twin of qhil.quant.requantize. */
#ifndef QHIL_NN_SUPPORT_H
#define QHIL_NN_SUPPORT_H

#include <stdint.h>

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
 * qhil_nn_requantize, same results, fewer instructions (used by optimized kernels).
 *
 * With neg = (acc < 0) -- equal to (acc * mult < 0) whenever mult > 0, and harmless when
 * mult == 0 because (2^(n-1) - 1) >> n == 0 -- and n > 32, floor divisions compose:
 *   (p - neg + 2^(n-1)) >> n == ((hi32(p - neg)) + 2^(n-33)) >> (n-32)
 * so only the high word of the product takes part; |hi32| < 2^30 cannot overflow.
 * Shifts up to 32 take the general path. Tested against the reference in test_kernels.c.
 */
static inline int32_t qhil_nn_requantize_fast(int32_t acc, int32_t mult, int32_t shift,
                                              int32_t lo, int32_t hi)
{
    int32_t q;
    if (shift > 32) {
        int64_t x = (int64_t)acc * (int64_t)mult - (acc < 0 ? 1 : 0);
        int32_t h = (int32_t)(x >> 32);
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

#endif
