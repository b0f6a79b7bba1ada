/*
 * Optimized portable C kernel (Cortex-M0/M3, RISC-V, native): one specialized inner loop per
 * common width (8, 4, 3 and 2 bits); on the M0, 4- and 2-bit rows by packed products, two
 * MACs a multiply (qhil_dot_packed_m0.S). Words of rows at any byte address go through memcpy,
 * which the compiler turns into one load where the core allows unaligned loads (ARMv7-M)
 * and into byte loads where it does not (RISC-V; the M0 code uses byte loads only).
 * Widths without a specialization (5..7 bits), and weights in a blocked layout (laid out
 * for another kernel, docs/model-format.md#layouts), run the reference kernel.
 */
#include <stddef.h>
#include <string.h>

#include "qhil_kernel_widths.h"
#include "qhil_nn.h"
#include "qhil_nn_support.h"

#if defined(__ARM_ARCH_6M__)
/* qhil_dot_packed_m0.S: the high halves of packed products, two MACs a multiply */
uint32_t qhil_dot4_m0(const uint8_t *row, const uint32_t *xp, uint32_t bytes);
uint32_t qhil_dot2lo_m0(const uint8_t *row, const uint32_t *xp, uint32_t bytes);
uint32_t qhil_dot2hi_m0(const uint8_t *row, const uint32_t *xp, uint32_t bytes);
void qhil_dot4_rows_m0(const uint8_t *rows, const uint32_t *xp, uint32_t row_bytes,
                       uint32_t count, int32_t *sums);
void qhil_dot4_pieces_m0(const uint8_t *rows, const uint32_t *xp, uint32_t row_bytes,
                         uint32_t count, int32_t *sums, uint32_t chunk);

/*
 * On the M0, kernel_mode is the number of a row's bytes one packed sum may take (1..255)
 * for 4- and 2-bit rows, else 0: each byte adds at most 2 * wmax * |x| to a 16-bit half
 * (wmax = 15 or 3, the codes' largest value plus the offset), which must stay within
 * +-(2^15 - 1) to be taken apart again.
 */
static uint8_t packed_chunk(const qhil_fc_params *p)
{
    const int32_t xmax = p->in_max > -p->in_min ? p->in_max : -p->in_min;
    if (p->layout_group != 0u || (p->w_bits != 4u && p->w_bits != 2u) || xmax < 1) {
        return 0;
    }
    const uint32_t wmax = p->w_bits == 4u ? 15u : 3u;
    const uint32_t bytes = 32767u / (2u * wmax * (uint32_t)xmax);
    return (uint8_t)(bytes > 255u ? 255u : bytes);
}

/* H of a packed sum S = L + H 2^16, |L|, |H| < 2^15 (qhil_dot_packed_m0.S). */
static inline int32_t high_half(uint32_t s)
{
    return (int32_t)(s - (uint32_t)(int32_t)(int16_t)s) >> 16;
}
#endif

#ifndef QHIL_OPT_C_IS_FALLBACK
const char *const qhil_fc_opt_name = "c";
const uint8_t qhil_fc_opt_variant = 1;

uint32_t qhil_fc_scratch_size(const qhil_fc_params *p)
{
#if defined(__ARM_ARCH_6M__)
    return 8u * ((p->n_in + 3u) / 4u); /* the packed input pairs, whole bytes of 2-bit codes */
#else
    (void)p;
    return 0;
#endif
}

void qhil_fc_opt(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    qhil_fc_opt_c(p, in, out, scratch);
}

uint32_t qhil_fc_opt_prepare(qhil_fc_params *p, uint8_t *mem, uint32_t cap, uint32_t how)
{
    (void)mem;
    (void)cap;
    (void)how;
    p->repacked = NULL;
    p->rq = NULL;
    p->kernel_bits = 0;
#if defined(__ARM_ARCH_6M__)
    p->kernel_mode = packed_chunk(p);
#endif
    return 0;
}
#endif

__attribute__((noinline)) static int32_t dot_s8(const uint8_t *row, const int16_t *in, uint32_t n)
{
    const int8_t *w = (const int8_t *)row;
    int32_t acc = 0;
    uint32_t k = 0;
    for (; k + 4u <= n; k += 4u) {
        acc += w[k] * in[k] + w[k + 1u] * in[k + 1u] + w[k + 2u] * in[k + 2u] +
               w[k + 3u] * in[k + 3u];
    }
    for (; k < n; k++) {
        acc += w[k] * in[k];
    }
    return acc;
}

/* Sign-extend a 4- or 2-bit field: (v ^ m) - m with m the field's sign bit. */
static inline int32_t s4(uint32_t v)
{
    return (int32_t)((v & 0xFu) ^ 0x8u) - 8;
}

static inline int32_t s2(uint32_t v)
{
    return (int32_t)((v & 0x3u) ^ 0x2u) - 2;
}

/* Four bytes assembled into one word (byte loads: rows need not be word aligned). */
static inline uint32_t word_of(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Eight 4-bit codes a word, taken from it by shifts; the rest two a byte. */
__attribute__((noinline)) static int32_t dot_s4(const uint8_t *row, const int16_t *in, uint32_t n)
{
    int32_t acc = 0;
    uint32_t k = 0;
    for (; k + 8u <= n; k += 8u, row += 4) {
        const uint32_t v = word_of(row);
        acc += s4(v) * in[k] + s4(v >> 4) * in[k + 1u] + s4(v >> 8) * in[k + 2u] +
               s4(v >> 12) * in[k + 3u] + s4(v >> 16) * in[k + 4u] + s4(v >> 20) * in[k + 5u] +
               s4(v >> 24) * in[k + 6u] + s4(v >> 28) * in[k + 7u];
    }
    for (; k + 2u <= n; k += 2u, row++) {
        acc += s4(row[0]) * in[k] + s4((uint32_t)row[0] >> 4) * in[k + 1u];
    }
    if (k < n) {
        acc += s4(row[0]) * in[k];
    }
    return acc;
}

static inline int32_t s3(uint32_t v)
{
    return (int32_t)((v & 0x7u) ^ 0x4u) - 4;
}

/* Eight 3-bit codes fill three bytes: one 24-bit word per group, then shifts. */
__attribute__((noinline)) static int32_t dot_s3(const uint8_t *row, const int16_t *in, uint32_t n)
{
    int32_t acc = 0;
    uint32_t k = 0;
    for (; k + 8u <= n; k += 8u, row += 3) {
        const uint32_t v = (uint32_t)row[0] | ((uint32_t)row[1] << 8) | ((uint32_t)row[2] << 16);
        acc += s3(v) * in[k] + s3(v >> 3) * in[k + 1u] + s3(v >> 6) * in[k + 2u] +
               s3(v >> 9) * in[k + 3u] + s3(v >> 12) * in[k + 4u] + s3(v >> 15) * in[k + 5u] +
               s3(v >> 18) * in[k + 6u] + s3(v >> 21) * in[k + 7u];
    }
    for (uint32_t j = 0; k < n; k++, j++) {
        acc += qhil_nn_unpack_code(row, j, 3u) * in[k];
    }
    return acc;
}

/* Eight 2-bit codes a halfword (sixteen a word run out of the M0's eight low registers);
 * the rest from their byte. */
__attribute__((noinline)) static int32_t dot_s2(const uint8_t *row, const int16_t *in, uint32_t n)
{
    int32_t acc = 0;
    uint32_t k = 0;
    for (; k + 8u <= n; k += 8u, row += 2) {
        const uint32_t v = (uint32_t)row[0] | ((uint32_t)row[1] << 8);
        const int16_t *x = in + k;
        acc += s2(v) * x[0] + s2(v >> 2) * x[1] + s2(v >> 4) * x[2] + s2(v >> 6) * x[3] +
               s2(v >> 8) * x[4] + s2(v >> 10) * x[5] + s2(v >> 12) * x[6] +
               s2(v >> 14) * x[7];
    }
    for (uint32_t j = 0; k < n; k++, j++) {
        acc += s2((uint32_t)row[j / 4u] >> (2u * (j % 4u))) * in[k];
    }
    return acc;
}

#if defined(__ARM_ARCH_6M__)
/*
 * 4- and 2-bit rows by packed products (qhil_dot_packed_m0.S): the inputs are paired once
 * for the layer, xp[j] = x[2j + 1] + x[2j] 2^16 (zero past n), and each row's sum comes
 * in chunks of p->kernel_mode bytes, less (2^(b-1)) * sum x for the codes' offset.
 */
__attribute__((noinline)) static void rows_packed(const qhil_fc_params *p, const int16_t *in,
                                                  int16_t *out, uint32_t *xp)
{
    const uint32_t n = p->n_in;
    const uint32_t row_bytes = qhil_nn_row_bytes(n, p->w_bits);
    const uint32_t pairs = p->w_bits == 4u ? row_bytes : 2u * row_bytes;
    int32_t sum = 0;
    for (uint32_t j = 0; j < pairs; j++) {
        const int32_t x0 = 2u * j < n ? in[2u * j] : 0;
        const int32_t x1 = 2u * j + 1u < n ? in[2u * j + 1u] : 0;
        xp[j] = (uint32_t)x1 + ((uint32_t)x0 << 16);
        sum += x0 + x1;
    }
    const int32_t offset = (p->w_bits == 4u ? 8 : 2) * sum;
    const uint32_t chunk = p->kernel_mode;
    const uint8_t *row = p->weights;
    uint32_t i = 0;
    if (p->w_bits == 4u) { /* sixteen rows a call */
        int32_t sums[16];
        for (; i < p->n_out; i += 16u, row += 16u * row_bytes) {
            const uint32_t count = p->n_out - i < 16u ? p->n_out - i : 16u;
            if (row_bytes <= chunk) {
                qhil_dot4_rows_m0(row, xp, row_bytes, count, sums);
            } else {
                qhil_dot4_pieces_m0(row, xp, row_bytes, count, sums, chunk);
            }
            for (uint32_t j = 0; j < count; j++) {
                out[i + j] = (int16_t)qhil_nn_requantize_fast(
                    p->bias[i + j] - offset + sums[j], p->mult[i + j], p->shift[i + j],
                    p->out_min, p->out_max);
            }
        }
        return;
    }
    for (; i < p->n_out; i++, row += row_bytes) {
        int32_t acc = p->bias[i] - offset;
        for (uint32_t at = 0; at < row_bytes; at += chunk) {
            const uint32_t len = row_bytes - at < chunk ? row_bytes - at : chunk;
            if (p->w_bits == 4u) {
                acc += high_half(qhil_dot4_m0(row + at, xp + at, len));
            } else {
                acc += high_half(qhil_dot2lo_m0(row + at, xp + 2u * at, len)) +
                       high_half(qhil_dot2hi_m0(row + at, xp + 2u * at + 1u, len));
            }
        }
        out[i] = (int16_t)qhil_nn_requantize_fast(acc, p->mult[i], p->shift[i], p->out_min,
                                                  p->out_max);
    }
}
#endif

/*
 * int8 rows four at a time (two on the M0, whose eight low registers hold no more): each
 * input is loaded once for all of them, so a MAC costs a weight load and a multiply-add.
 * Returns the first row it did not do.
 */
#if defined(__ARM_ARCH_6M__)
#define QHIL_S8_ROWS 2u
/* qhil_dot2_s8_m0.S: a0 += w0[k] x[k], a1 += w1[k] x[k] for k < n (n a multiple of 4) */
void qhil_dot2_s8_m0(const int8_t *w0, const int8_t *w1, const int16_t *x, uint32_t n,
                     int32_t *a0, int32_t *a1);
#else
#define QHIL_S8_ROWS 4u
#endif
static uint32_t rows_s8(const qhil_fc_params *p, const int16_t *in, int16_t *out)
{
    const uint32_t n = p->n_in;
    uint32_t i = 0;
    for (; i + QHIL_S8_ROWS <= p->n_out; i += QHIL_S8_ROWS) {
        const int8_t *w0 = (const int8_t *)p->weights + i * n;
        const int8_t *w1 = w0 + n;
        int32_t a0 = p->bias[i];
        int32_t a1 = p->bias[i + 1u];
#if QHIL_S8_ROWS == 4u
        const int8_t *w2 = w1 + n;
        const int8_t *w3 = w2 + n;
        int32_t a2 = p->bias[i + 2u];
        int32_t a3 = p->bias[i + 3u];
#endif
        uint32_t k = 0;
#if defined(__ARM_ARCH_6M__)
        k = n & ~3u; /* four inputs a pass in assembly: the compiler runs out of low registers */
        qhil_dot2_s8_m0(w0, w1, in, k, &a0, &a1);
#endif
        for (; k < n; k++) {
            const int32_t x = in[k];
            a0 += w0[k] * x;
            a1 += w1[k] * x;
#if QHIL_S8_ROWS == 4u
            a2 += w2[k] * x;
            a3 += w3[k] * x;
#endif
        }
        out[i] = (int16_t)qhil_nn_requantize_fast(a0, p->mult[i], p->shift[i], p->out_min,
                                                  p->out_max);
        out[i + 1u] = (int16_t)qhil_nn_requantize_fast(a1, p->mult[i + 1u], p->shift[i + 1u],
                                                       p->out_min, p->out_max);
#if QHIL_S8_ROWS == 4u
        out[i + 2u] = (int16_t)qhil_nn_requantize_fast(a2, p->mult[i + 2u], p->shift[i + 2u],
                                                       p->out_min, p->out_max);
        out[i + 3u] = (int16_t)qhil_nn_requantize_fast(a3, p->mult[i + 3u], p->shift[i + 3u],
                                                       p->out_min, p->out_max);
#endif
    }
    return i;
}

#if !defined(__ARM_ARCH_6M__)
/* A word of a row at any byte address: one LDR where the core allows unaligned loads
 * (ARMv7-M), byte loads where the compiler knows it does not (RISC-V). Little-endian. */
static inline uint32_t row_word(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The first `left` (1..4) bytes at p as a little-endian word, the rest zero. */
static inline uint32_t tail_word(const uint8_t *p, uint32_t left)
{
    uint32_t v = p[0];
    if (left > 1u) {
        v |= (uint32_t)p[1] << 8;
    }
    if (left > 2u) {
        v |= (uint32_t)p[2] << 16;
    }
    if (left > 3u) {
        v |= (uint32_t)p[3] << 24;
    }
    return v;
}

/* Code j of a word of B-bit codes, sign-extended: one SBFX on ARMv7-M. */
#define SN_AT(v, j, B) ((int32_t)((v) << (32u - (B) * ((j) + 1u))) >> (32u - (B)))
#define SN_MAC4(j, B)                                                                      \
    do {                                                                                   \
        const int32_t x = in[k + (j)];                                                     \
        a0 += SN_AT(v0, j, B) * x;                                                         \
        a1 += SN_AT(v1, j, B) * x;                                                         \
        a2 += SN_AT(v2, j, B) * x;                                                         \
        a3 += SN_AT(v3, j, B) * x;                                                         \
    } while (0)

/* the eight codes of a word of each of the four rows */
#define SN_MAC32(B)                                                                        \
    do {                                                                                   \
        SN_MAC4(0u, B);                                                                    \
        SN_MAC4(1u, B);                                                                    \
        SN_MAC4(2u, B);                                                                    \
        SN_MAC4(3u, B);                                                                    \
        SN_MAC4(4u, B);                                                                    \
        SN_MAC4(5u, B);                                                                    \
        SN_MAC4(6u, B);                                                                    \
        SN_MAC4(7u, B);                                                                    \
    } while (0)

/*
 * B-bit rows (B = 2, 3, 4) four at a time, eight inputs a pass: eight codes fill B bytes,
 * and a word read there holds them (plus a byte or two of what follows); per input one
 * load shared by the rows, per code an extract and a multiply-add (SBFX + MLA on the M3).
 * Only the block's last row can reach past the layer's weights, and only in the layer's
 * last block: its words are then read a byte at a time up to the end. The M0 keeps
 * dot_s*: its eight low registers do not hold four rows. Returns the first row not done.
 */
#define ROWS_LOW(B)                                                                        \
    static uint32_t rows_s##B(const qhil_fc_params *p, const int16_t *in, int16_t *out)     \
    {                                                                                      \
        const uint32_t n = p->n_in;                                                        \
        const uint32_t row_bytes = qhil_nn_row_bytes(n, B);                                \
        const uint8_t *const end = p->weights + p->n_out * row_bytes;                      \
        /* the groups whose word lies inside the row: g * B + 4 <= row_bytes */            \
        const uint32_t fit = row_bytes >= 4u ? (row_bytes - 4u) / (B) + 1u : 0u;           \
        const uint32_t whole = 8u * (n / 8u < fit ? n / 8u : fit);                         \
        uint32_t i = 0;                                                                    \
        for (; i + 4u <= p->n_out; i += 4u) {                                              \
            const uint8_t *r0 = p->weights + i * row_bytes;                                \
            const uint8_t *r1 = r0 + row_bytes;                                            \
            const uint8_t *r2 = r1 + row_bytes;                                            \
            const uint8_t *r3 = r2 + row_bytes;                                            \
            const int last = r3 + row_bytes + 4u > end;                                    \
            int32_t a0 = p->bias[i];                                                       \
            int32_t a1 = p->bias[i + 1u];                                                  \
            int32_t a2 = p->bias[i + 2u];                                                  \
            int32_t a3 = p->bias[i + 3u];                                                  \
            uint32_t k = 0;                                                                \
            for (; k < whole; k += 8u) {                                                   \
                const uint32_t at = k * (B) / 8u;                                          \
                const uint32_t v0 = row_word(r0 + at);                                     \
                const uint32_t v1 = row_word(r1 + at);                                     \
                const uint32_t v2 = row_word(r2 + at);                                     \
                const uint32_t v3 = row_word(r3 + at);                                     \
                SN_MAC32(B);                                                               \
            }                                                                              \
            for (; k < n; k += 8u) { /* the row's last word: may reach past the layer */  \
                const uint32_t at = k * (B) / 8u;                                          \
                const uint32_t v0 = row_word(r0 + at);                                     \
                const uint32_t v1 = row_word(r1 + at);                                     \
                const uint32_t v2 = row_word(r2 + at);                                     \
                const uint32_t v3 = last ? tail_word(r3 + at, (uint32_t)(end - r3) - at)   \
                                         : row_word(r3 + at);                              \
                if (k + 8u <= n) {                                                         \
                    SN_MAC32(B);                                                           \
                } else { /* 1..7 codes left: each at a constant position */                \
                    switch (n - k) {                                                       \
                    case 7u:                                                               \
                        SN_MAC4(6u, B);                                                    \
                        /* fall through */                                                 \
                    case 6u:                                                               \
                        SN_MAC4(5u, B);                                                    \
                        /* fall through */                                                 \
                    case 5u:                                                               \
                        SN_MAC4(4u, B);                                                    \
                        /* fall through */                                                 \
                    case 4u:                                                               \
                        SN_MAC4(3u, B);                                                    \
                        /* fall through */                                                 \
                    case 3u:                                                               \
                        SN_MAC4(2u, B);                                                    \
                        /* fall through */                                                 \
                    case 2u:                                                               \
                        SN_MAC4(1u, B);                                                    \
                        /* fall through */                                                 \
                    case 1u:                                                               \
                        SN_MAC4(0u, B);                                                    \
                        break;                                                             \
                    default:                                                               \
                        break;                                                             \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
            const int32_t acc[4] = {a0, a1, a2, a3};                                       \
            for (uint32_t j = 0; j < 4u; j++) {                                            \
                out[i + j] = (int16_t)qhil_nn_requantize_fast(                             \
                    acc[j], p->mult[i + j], p->shift[i + j], p->out_min, p->out_max);      \
            }                                                                              \
        }                                                                                  \
        return i;                                                                          \
    }
ROWS_LOW(4)
ROWS_LOW(3)
ROWS_LOW(2)
#undef ROWS_LOW
#undef SN_MAC32
#undef SN_MAC4
#undef SN_AT
#endif


void qhil_fc_opt_c(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    if (p->layout_group != 0u) {
        qhil_fc_ref(p, in, out, scratch);
        return;
    }
#if defined(__ARM_ARCH_6M__)
    if (p->kernel_mode != 0u && (p->w_bits == 4u ? QHIL_KERNEL_HAS(4) : QHIL_KERNEL_HAS(2))) {
        rows_packed(p, in, out, (uint32_t *)scratch);
        return;
    }
#endif
    int32_t (*dot)(const uint8_t *, const int16_t *, uint32_t);
    uint32_t first = 0;
    switch (p->w_bits) {
    case 8:
        if (!QHIL_KERNEL_HAS(8)) { /* a flash image without this width's loops */
            qhil_fc_ref(p, in, out, scratch);
            return;
        }
        dot = dot_s8;
        first = rows_s8(p, in, out);
        break;
    case 4:
        if (!QHIL_KERNEL_HAS(4)) { /* a flash image without this width's loops */
            qhil_fc_ref(p, in, out, scratch);
            return;
        }
        dot = dot_s4;
#if !defined(__ARM_ARCH_6M__)
        first = rows_s4(p, in, out);
#endif
        break;
    case 3:
        if (!QHIL_KERNEL_HAS(3)) { /* a flash image without this width's loops */
            qhil_fc_ref(p, in, out, scratch);
            return;
        }
        dot = dot_s3;
#if !defined(__ARM_ARCH_6M__)
        first = rows_s3(p, in, out);
#endif
        break;
    case 2:
        if (!QHIL_KERNEL_HAS(2)) { /* a flash image without this width's loops */
            qhil_fc_ref(p, in, out, scratch);
            return;
        }
        dot = dot_s2;
#if !defined(__ARM_ARCH_6M__)
        first = rows_s2(p, in, out);
#endif
        break;
    default:
        qhil_fc_ref(p, in, out, scratch);
        return;
    }
    const uint32_t row_bytes = qhil_nn_row_bytes(p->n_in, p->w_bits);
    const uint8_t *row = p->weights + first * row_bytes;
    for (uint32_t i = first; i < p->n_out; i++, row += row_bytes) {
        int32_t acc = p->bias[i] + dot(row, in, p->n_in);
        out[i] = (int16_t)qhil_nn_requantize_fast(acc, p->mult[i], p->shift[i], p->out_min,
                                             p->out_max);
    }
}
