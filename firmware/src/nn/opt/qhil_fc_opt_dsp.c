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
 * 3-bit layers are widened to 4 bits at load (qhil_fc_opt_prepare); 5..7-bit layers run
 * the portable optimized C kernel.
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
    case 3:
        return p->repacked != NULL && scaled_fits(p, 4);
    case 4:
        return scaled_fits(p, 4);
    case 2:
        return scaled_fits(p, 6);
    default:
        return 0;
    }
}

/*
 * 3-bit rows have no cheap SXTB16 unpacking (codes straddle bytes), so at load time they
 * are widened to 4-bit nibbles in spare arena RAM and run the 4-bit loop. Costs
 * n_out * ceil(n_in / 2) bytes; without the room the layer runs the portable kernel.
 */
uint32_t qhil_fc_opt_prepare(qhil_fc_params *p, uint8_t *mem, uint32_t cap)
{
    p->repacked = NULL;
    if (p->w_bits != 3u) {
        return 0;
    }
    const uint32_t out_row = qhil_nn_row_bytes(p->n_in, 4);
    const uint32_t need = p->n_out * out_row;
    if (need > cap) {
        return 0;
    }
    const uint32_t in_row = qhil_nn_row_bytes(p->n_in, 3);
    for (uint32_t i = 0; i < p->n_out; i++) {
        const uint8_t *src = p->weights + i * in_row;
        uint8_t *dst = mem + i * out_row;
        memset(dst, 0, out_row);
        for (uint32_t k = 0; k < p->n_in; k++) {
            uint32_t nibble = (uint32_t)qhil_nn_unpack_code(src, k, 3) & 0xFu;
            dst[k >> 1] |= (uint8_t)(nibble << ((k & 1u) * 4u));
        }
    }
    p->repacked = mem;
    return need;
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
    for (uint32_t k = from; k < n; k++) {
        acc += qhil_nn_unpack_code(row, k, bits) * in[k];
    }
    return acc;
}

/* 8-bit tail (n_in % 4 codes): plain int8 loads, no bit extraction. */
static inline int32_t tail_s8(const uint8_t *row, const int16_t *in, uint32_t from, uint32_t n)
{
    int32_t acc = 0;
    for (uint32_t k = from; k < n; k++) {
        acc += (int32_t)(int8_t)row[k] * in[k];
    }
    return acc;
}

/* Accumulate `groups` groups of four int8 codes of one row (remainder rows). */
static int32_t row_s8(const uint8_t *row, const uint32_t *x, uint32_t groups)
{
    int32_t a = 0;
    for (uint32_t g = 0; g < groups; g++, x += 2) {
        uint32_t w = load_word(row + 4u * g);
        a = __smlad(__sxtb16(w), x[0], a);
        a = __smlad(sxtb16_ror8(w), x[1], a);
    }
    return a;
}

/*
 * Four rows share every input load: per group of four inputs one LDRD, four LDR, eight
 * SXTB16, eight SMLAD = 21 instructions for 16 MACs. Rows 1 and 3 are addressed from rows
 * 0 and 2 with a register offset, which keeps the loop within 13 registers.
 */
static void fc_s8(const qhil_fc_params *p, const int16_t *in, int16_t *out, uint32_t *xw)
{
    const uint32_t n = p->n_in;
    const uint32_t groups = n / 4u;
    reorder(in, groups, 8, xw);
    const uint8_t *row = p->weights;
    uint32_t i = 0;
    int32_t acc[4];
    for (; i + 4u <= p->n_out; i += 4u, row += 4u * n) {
        int32_t a0 = 0;
        int32_t a1 = 0;
        int32_t a2 = 0;
        int32_t a3 = 0;
        if (groups >= 2u) {
            const uint32_t *x = xw;
            const uint8_t *r0 = row;
            const uint8_t *r2 = row + 2u * n;
            uint32_t stride = n - 4u; /* row 1 from row 0 after the post-increment */
            uint32_t n_iter = groups / 2u;
            uint32_t xa, xb, w, t;
#define QHIL_S8_ROW(W_LOAD, A)                              \
    W_LOAD                                                  \
    "sxtb16 %[t], %[w]\n"                                   \
    "smlad  %[" A "], %[t], %[xa], %[" A "]\n"              \
    "sxtb16 %[t], %[w], ror #8\n"                           \
    "smlad  %[" A "], %[t], %[xb], %[" A "]\n"
#define QHIL_S8_GROUP                                       \
    "ldrd   %[xa], %[xb], [%[x]], #8\n"                       \
    QHIL_S8_ROW("ldr %[w], [%[r0]], #4\n", "a0")               \
    QHIL_S8_ROW("ldr %[w], [%[r0], %[s]]\n", "a1")             \
    QHIL_S8_ROW("ldr %[w], [%[r2]], #4\n", "a2")               \
    QHIL_S8_ROW("ldr %[w], [%[r2], %[s]]\n", "a3")
            __asm__ volatile(
                "1:\n"
                QHIL_S8_GROUP QHIL_S8_GROUP /* 2 groups x 4 rows = 32 MACs, 44 instructions */
                "subs   %[n], %[n], #1\n"
                "bne    1b\n"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
                  [r0] "+r"(r0), [r2] "+r"(r2), [n] "+r"(n_iter), [xa] "=&r"(xa),
                  [xb] "=&r"(xb), [w] "=&r"(w), [t] "=&r"(t)
                : [s] "r"(stride)
                : "cc", "memory");
#undef QHIL_S8_GROUP
#undef QHIL_S8_ROW
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        const uint32_t done = groups & ~1u; /* groups covered by the two-group loop */
        for (uint32_t r = 0; r < 4u; r++) {
            const uint8_t *rr = row + r * n;
            int32_t a = acc[r] + p->bias[i + r] + tail_s8(rr, in, done * 4u, n);
            out[i + r] = (int16_t)qhil_nn_requantize_fast(a, p->mult[i + r], p->shift[i + r],
                                                          p->out_min, p->out_max);
        }
    }
    for (; i < p->n_out; i++, row += n) {
        int32_t a = row_s8(row, xw, groups) + p->bias[i] + tail_s8(row, in, groups * 4u, n);
        out[i] = (int16_t)qhil_nn_requantize_fast(a, p->mult[i], p->shift[i], p->out_min,
                                                  p->out_max);
    }
}

/* One word of 4-bit codes against its 8 reordered inputs: 2 AND, 4 SXTB16, 4 SMLAD. */
static inline int32_t mac_s4(uint32_t w, const uint32_t *x, int32_t a)
{
    const uint32_t lo = (w << 4) & 0xF0F0F0F0u; /* codes 0,2,4,6 at the byte tops */
    const uint32_t hi = w & 0xF0F0F0F0u;        /* codes 1,3,5,7 */
    a = __smlad(__sxtb16(lo), x[0], a);
    a = __smlad(sxtb16_ror8(lo), x[1], a);
    a = __smlad(__sxtb16(hi), x[2], a);
    return __smlad(sxtb16_ror8(hi), x[3], a);
}

/* One word of 2-bit codes against its 16 reordered inputs. */
static inline int32_t mac_s2(uint32_t w, const uint32_t *x, int32_t a)
{
    const uint32_t c0 = (w << 6) & 0xC0C0C0C0u;
    const uint32_t c1 = (w << 4) & 0xC0C0C0C0u;
    const uint32_t c2 = (w << 2) & 0xC0C0C0C0u;
    const uint32_t c3 = w & 0xC0C0C0C0u;
    a = __smlad(__sxtb16(c0), x[0], a);
    a = __smlad(sxtb16_ror8(c0), x[1], a);
    a = __smlad(__sxtb16(c1), x[2], a);
    a = __smlad(sxtb16_ror8(c1), x[3], a);
    a = __smlad(__sxtb16(c2), x[4], a);
    a = __smlad(sxtb16_ror8(c2), x[5], a);
    a = __smlad(__sxtb16(c3), x[6], a);
    return __smlad(sxtb16_ror8(c3), x[7], a);
}

/* 4- and 2-bit: codes moved to byte tops (x16, x64), SXTB16, SMLAD; scaled out per row. */
static void fc_packed(const qhil_fc_params *p, const int16_t *in, int16_t *out, uint32_t *xw)
{
    const uint32_t bits = p->w_bits;
    const uint32_t n = p->n_in;
    const uint32_t g = group_of(bits);
    const uint32_t groups = n / g;
    const uint32_t scale = 8u - bits;
    const uint32_t row_bytes = qhil_nn_row_bytes(n, bits);
    const uint32_t words_per_group = g / 2u; /* reordered input words per weight word */
    reorder(in, groups, bits, xw);
    const uint8_t *row = p->weights;
    uint32_t i = 0;
    for (; i + 2u <= p->n_out; i += 2u, row += 2u * row_bytes) {
        const uint8_t *r0 = row;
        const uint8_t *r1 = row + row_bytes;
        const uint32_t *x = xw;
        int32_t a0 = 0;
        int32_t a1 = 0;
        if (groups > 0u && bits == 4u) {
            uint32_t n_iter = groups;
            uint32_t xa, xb, w, t, u;
            /* per row: LSL+AND and AND put codes 0,2,4,6 / 1,3,5,7 at the byte tops */
#define QHIL_S4_ROW(R, A)                                  \
    "ldr    %[w], [%[" R "]], #4\n"                         \
    "lsl    %[t], %[w], #4\n"                               \
    "and    %[t], %[t], #0xF0F0F0F0\n"                      \
    "and    %[w], %[w], #0xF0F0F0F0\n"                      \
    "sxtb16 %[u], %[t]\n"                                   \
    "smlad  %[" A "], %[u], %[xa], %[" A "]\n"              \
    "sxtb16 %[u], %[t], ror #8\n"                           \
    "smlad  %[" A "], %[u], %[xb], %[" A "]\n"
#define QHIL_S4_HI(A, XC, XD)                               \
    "sxtb16 %[u], %[w]\n"                                   \
    "smlad  %[" A "], %[u], " XC ", %[" A "]\n"             \
    "sxtb16 %[u], %[w], ror #8\n"                           \
    "smlad  %[" A "], %[u], " XD ", %[" A "]\n"
            uint32_t xc, xd;
            __asm__ volatile(
                "1:\n"
                "ldrd   %[xa], %[xb], [%[x]], #8\n"
                "ldrd   %[xc], %[xd], [%[x]], #8\n"
                QHIL_S4_ROW("r0", "a0") QHIL_S4_HI("a0", "%[xc]", "%[xd]")
                QHIL_S4_ROW("r1", "a1") QHIL_S4_HI("a1", "%[xc]", "%[xd]")
                "subs   %[n], %[n], #1\n"
                "bne    1b\n"
                : [a0] "+r"(a0), [a1] "+r"(a1), [x] "+r"(x), [r0] "+r"(r0), [r1] "+r"(r1),
                  [n] "+r"(n_iter), [xa] "=&r"(xa), [xb] "=&r"(xb), [xc] "=&r"(xc),
                  [xd] "=&r"(xd), [w] "=&r"(w), [t] "=&r"(t), [u] "=&r"(u)
                :
                : "cc", "memory");
#undef QHIL_S4_ROW
#undef QHIL_S4_HI
        } else if (groups > 0u) {
            for (uint32_t grp = 0; grp < groups; grp++, x += 8, r0 += 4, r1 += 4) {
                a0 = mac_s2(load_word(r0), x, a0);
                a1 = mac_s2(load_word(r1), x, a1);
            }
        }
        a0 = (a0 >> scale) + p->bias[i] + tail(row, in, groups * g, n, bits);
        a1 = (a1 >> scale) + p->bias[i + 1u] + tail(row + row_bytes, in, groups * g, n, bits);
        out[i] = (int16_t)qhil_nn_requantize_fast(a0, p->mult[i], p->shift[i], p->out_min, p->out_max);
        out[i + 1u] = (int16_t)qhil_nn_requantize_fast(a1, p->mult[i + 1u], p->shift[i + 1u],
                                                  p->out_min, p->out_max);
    }
    if (i < p->n_out) {
        const uint32_t *x = xw;
        int32_t a = 0;
        for (uint32_t grp = 0; grp < groups; grp++, x += words_per_group) {
            uint32_t w = load_word(row + 4u * grp);
            a = bits == 4u ? mac_s4(w, x, a) : mac_s2(w, x, a);
        }
        a = (a >> scale) + p->bias[i] + tail(row, in, groups * g, n, bits);
        out[i] = (int16_t)qhil_nn_requantize_fast(a, p->mult[i], p->shift[i], p->out_min, p->out_max);
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
    } else if (p->w_bits == 3u) {
        qhil_fc_params wide = *p;
        wide.w_bits = 4;
        wide.weights = p->repacked;
        fc_packed(&wide, in, out, (uint32_t *)scratch);
    } else {
        fc_packed(p, in, out, (uint32_t *)scratch);
    }
}
