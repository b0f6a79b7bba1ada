/*
 * DSP kernel for Cortex-M4/M7 (ARMv7E-M): SMLAD does two 16x16 MACs per instruction.
 *
 * SXTB16 sign-extends bytes 0 and 2 of a word into two halfwords (and, rotated by 8,
 * bytes 1 and 3). Packed weights therefore come out of a word in an interleaved order;
 * instead of repacking them (PKHBT, two instructions per pair), the input vector is
 * reordered once per layer into that same order, into `scratch`, and reused by every row.
 *
 * 8-bit:  word = w0 w1 w2 w3         -> (w0,w2) (w1,w3)       inputs (x0,x2) (x1,x3)
 * 4-bit:  nibbles moved to the top of each byte (x16), then as for 8-bit: 8 codes a word
 * 2-bit:  crumbs moved to the top of each byte (x64): 16 codes a word
 * Scaled products are shifted back exactly at the end of a row (every term is a multiple
 * of 16 or 64); layers whose scaled worst case could overflow int32 use the reference.
 * 3..7-bit layers other than 4 run the portable optimized C kernel.
 */
#include <arm_acle.h>
#include <string.h>

#include "qhil_nn.h"
#include "qhil_nn_support.h"

#if !defined(__ARM_FEATURE_DSP)
#error "qhil_fc_opt_dsp.c needs the Cortex-M DSP extension (-mcpu=cortex-m4 or cortex-m7)"
#endif

const char *const qhil_fc_opt_name = "dsp";
const uint8_t qhil_fc_opt_variant = 2;

void qhil_fc_opt_c(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch);

/* Codes per 32-bit weight word, the products' scale (log2), and the input order. */
static uint32_t group_of(uint32_t bits)
{
    return 32u / bits;
}

uint32_t qhil_fc_scratch_size(const qhil_fc_params *p)
{
    return 2u * p->n_in + 4u;
}

static int scaled_fits(const qhil_fc_params *p, uint32_t scale_log2)
{
    int64_t wmax = (1 << (p->w_bits - 1u)) - 1;
    int64_t bound = (int64_t)p->n_in * wmax * p->in_max << scale_log2;
    return bound <= INT32_MAX;
}

int qhil_fc_opt_supports(const qhil_fc_params *p)
{
    switch (p->w_bits) {
    case 8:
        return 1;
    case 4:
        return scaled_fits(p, 4);
    case 2:
        return scaled_fits(p, 6);
    default:
        return 0;
    }
}

/*
 * Pair input k of each group with the code SXTB16 puts next to it. For a group of G codes
 * in one word, byte j holds codes j*G/4 .. j*G/4 + G/4 - 1; after moving code c of each
 * byte to the top, SXTB16 gives bytes (0,2), ROR 8 gives bytes (1,3).
 */
static void reorder(const int16_t *in, uint32_t n_groups, uint32_t bits, uint32_t *xw)
{
    const uint32_t g = group_of(bits);
    const uint32_t per_byte = g / 4u;
    for (uint32_t grp = 0; grp < n_groups; grp++) {
        const int16_t *x = in + grp * g;
        for (uint32_t c = 0; c < per_byte; c++) {
            /* byte j, code c is input j*per_byte + c */
            uint32_t b0 = (uint16_t)x[0u * per_byte + c];
            uint32_t b1 = (uint16_t)x[1u * per_byte + c];
            uint32_t b2 = (uint16_t)x[2u * per_byte + c];
            uint32_t b3 = (uint16_t)x[3u * per_byte + c];
            *xw++ = b0 | (b2 << 16);
            *xw++ = b1 | (b3 << 16);
        }
    }
}

/* SXTB16 with its ROR #8 operand: one instruction (GCC 12 emits a separate rotate). */
static inline int32_t sxtb16_ror8(uint32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static inline uint32_t load_word(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* unaligned LDR: rows are byte-aligned, v7E-M allows it */
    return v;
}

static int32_t tail(const uint8_t *row, const int16_t *in, uint32_t from, uint32_t n,
                    uint32_t bits)
{
    int32_t acc = 0;
    for (uint32_t k = from, bit = from * bits; k < n; k++, bit += bits) {
        uint32_t byte = bit >> 3;
        uint32_t offset = bit & 7u;
        uint32_t v = (uint32_t)row[byte] >> offset;
        if (offset + bits > 8u) {
            v |= (uint32_t)row[byte + 1u] << (8u - offset);
        }
        acc += qhil_nn_sign_extend(v, bits) * in[k];
    }
    return acc;
}

static void fc_s8(const qhil_fc_params *p, const int16_t *in, int16_t *out, uint32_t *xw)
{
    const uint32_t n = p->n_in;
    const uint32_t groups = n / 4u;
    reorder(in, groups, 8, xw);
    const uint8_t *row = p->weights;
    uint32_t i = 0;
    /* Two rows at a time: each input word pair is loaded once for both. */
    for (; i + 2u <= p->n_out; i += 2u) {
        const uint8_t *r0 = row;
        const uint8_t *r1 = row + n;
        const uint32_t *x = xw;
        int32_t a0 = 0;
        int32_t a1 = 0;
        for (uint32_t g = 0; g < groups; g++) {
            uint32_t x02 = x[0];
            uint32_t x13 = x[1];
            x += 2;
            uint32_t w0 = load_word(r0);
            uint32_t w1 = load_word(r1);
            r0 += 4;
            r1 += 4;
            a0 = __smlad(__sxtb16(w0), x02, a0);
            a0 = __smlad(sxtb16_ror8(w0), x13, a0);
            a1 = __smlad(__sxtb16(w1), x02, a1);
            a1 = __smlad(sxtb16_ror8(w1), x13, a1);
        }
        a0 += p->bias[i] + tail(row, in, groups * 4u, n, 8);
        a1 += p->bias[i + 1u] + tail(row + n, in, groups * 4u, n, 8);
        out[i] = (int16_t)qhil_nn_requantize(a0, p->mult[i], p->shift[i], p->out_min, p->out_max);
        out[i + 1u] = (int16_t)qhil_nn_requantize(a1, p->mult[i + 1u], p->shift[i + 1u],
                                                  p->out_min, p->out_max);
        row += 2u * n;
    }
    for (; i < p->n_out; i++, row += n) {
        const uint32_t *x = xw;
        int32_t a = 0;
        for (uint32_t g = 0; g < groups; g++, x += 2) {
            uint32_t w = load_word(row + 4u * g);
            a = __smlad(__sxtb16(w), x[0], a);
            a = __smlad(sxtb16_ror8(w), x[1], a);
        }
        a += p->bias[i] + tail(row, in, groups * 4u, n, 8);
        out[i] = (int16_t)qhil_nn_requantize(a, p->mult[i], p->shift[i], p->out_min, p->out_max);
    }
}

/* 4- and 2-bit: move each code to the top of its byte, SXTB16, SMLAD; scale out at the end. */
static void fc_packed(const qhil_fc_params *p, const int16_t *in, int16_t *out, uint32_t *xw)
{
    const uint32_t bits = p->w_bits;
    const uint32_t n = p->n_in;
    const uint32_t g = group_of(bits);
    const uint32_t groups = n / g;
    const uint32_t per_byte = g / 4u;
    const uint32_t scale = 8u - bits; /* log2 of the factor the top-of-byte move applies */
    const uint32_t mask = bits == 4u ? 0xF0F0F0F0u : 0xC0C0C0C0u;
    const uint32_t row_bytes = qhil_nn_row_bytes(n, bits);
    reorder(in, groups, bits, xw);
    const uint8_t *row = p->weights;
    for (uint32_t i = 0; i < p->n_out; i++, row += row_bytes) {
        const uint32_t *x = xw;
        int32_t a = 0;
        for (uint32_t grp = 0; grp < groups; grp++) {
            uint32_t w = load_word(row + 4u * grp);
            for (uint32_t c = 0; c < per_byte; c++) {
                uint32_t top = (w << (8u - bits * (c + 1u))) & mask;
                a = __smlad(__sxtb16(top), x[0], a);
                a = __smlad(sxtb16_ror8(top), x[1], a);
                x += 2;
            }
        }
        a = (a >> scale) + p->bias[i] + tail(row, in, groups * g, n, bits);
        out[i] = (int16_t)qhil_nn_requantize(a, p->mult[i], p->shift[i], p->out_min, p->out_max);
    }
}

void qhil_fc_opt(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    if (!qhil_fc_opt_supports(p)) {
        qhil_fc_opt_c(p, in, out, scratch);
        return;
    }
    if (p->w_bits == 8u) {
        fc_s8(p, in, out, (uint32_t *)scratch);
    } else {
        fc_packed(p, in, out, (uint32_t *)scratch);
    }
}
