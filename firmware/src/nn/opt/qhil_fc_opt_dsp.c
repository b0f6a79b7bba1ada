/*
 * DSP kernel for Cortex-M4/M7 (ARMv7E-M): SMLAD does two 16x16 MACs per instruction.
 *
 * The assembly loops (qhil_mat_acc_*_dsp.S) stream weights in blocks of rows and groups
 * of inputs, zero-padded to whole ones. A blob stored in that order (docs/model-format.md
 * #layouts: 8-bit layers 4 rows x 4 codes, 4-bit layers 2 x 8, 2-bit layers 2 x 16) runs
 * in place, with nothing copied (2-bit codes are moved to the byte tops four at a time:
 * x64, 43 instructions per 32 MACs, two rows per pass). Only when the host asks for it
 * at LOAD (widen), qhil_fc_opt_prepare copies the weights into the loops' order in the
 * widest form the arena has room for:
 *
 * int16:  two codes a word, SMLAD straight on them: 11 instructions per 16 MACs
 * int8:   four codes a word; SXTB16 sign-extends bytes 0 and 2 (and, rotated by 8, bytes
 *         1 and 3) into halfword pairs (w0,w2) (w1,w3), so the inputs are reordered once
 *         per layer into (x0,x2) (x1,x3): 18 instructions per 16 MACs
 * 4-bit:  eight codes a word, moved to the top of each byte (x16) and then as for int8,
 *         for 2- to 4-bit layers: 22 instructions per 16 MACs, two rows per pass
 *
 * Each row of a layer on a loop also gets its sum's starting value (the bias, scaled as
 * the loop scales its sums; the loops load four at a time) and a requantization record
 * for qhil_requant_s16_dsp.S: 4 + 16 bytes a row; they and the copy live in the arena
 * after the blob and count in LOAD's bytes used. A last block with one real row runs on
 * its own (qhil_row1_*), not through a pass over padding rows. Other layers (rows in
 * place, no room, 4- and 2-bit sums scaled by 16 and 64 that could overflow int32) run
 * the portable C kernel.
 */
#include <string.h>

#include "qhil_kernel_widths.h"
#include "qhil_nn.h"
#include "qhil_nn_support.h"

/* Widened copies (LOAD's widen flag) need every loop; a flash image, compiled for its
 * model's widths, reads its weights where they lie. */
#define COPIES (QHIL_KERNEL_WIDTHS == 0x1FCu)

#if !defined(__ARM_FEATURE_DSP)
#error "qhil_fc_opt_dsp.c needs the Cortex-M DSP extension (-mcpu=cortex-m4 or cortex-m7)"
#endif

const char *const qhil_fc_opt_name = "dsp";
const uint8_t qhil_fc_opt_variant = 2;

void qhil_mat_acc4_s16(const uint32_t *x, const uint8_t *w, uint32_t groups, uint32_t blocks,
                       int32_t *acc, const int32_t *init);
void qhil_mat_acc4_s8(const uint32_t *x, const uint8_t *w, uint32_t groups, uint32_t blocks,
                      int32_t *acc, const int32_t *init);
void qhil_mat_acc2_s4(const uint32_t *x, const uint8_t *w, uint32_t groups, uint32_t blocks,
                      int32_t *acc, const int32_t *init);
void qhil_mat_acc2_s2(const uint32_t *x, const uint8_t *w, uint32_t groups, uint32_t blocks,
                      int32_t *acc, const int32_t *init);
int32_t qhil_row1_s8(const uint32_t *x, const uint8_t *w, uint32_t groups, int32_t init);
int32_t qhil_row1_s4(const uint32_t *x, const uint8_t *w, uint32_t groups, int32_t init);
int32_t qhil_row1_s2(const uint32_t *x, const uint8_t *w, uint32_t groups, int32_t init);

typedef void (*mat_acc_fn)(const uint32_t *x, const uint8_t *w, uint32_t groups,
                           uint32_t blocks, int32_t *acc, const int32_t *init);
typedef int32_t (*row1_fn)(const uint32_t *x, const uint8_t *w, uint32_t groups,
                           int32_t init);

/* kernel_mode of a layer prepared compact (nothing kept at load). */
#define KEPT_NOTHING 1u

/* Codes per group and rows per pass of the loops, by the width they stream. */
static uint32_t group_of(uint32_t bits)
{
    return bits == 2u ? 16u : (bits == 4u ? 8u : 4u);
}

static uint32_t rows_of(uint32_t bits)
{
    return bits <= 4u ? 2u : 4u;
}

static uint32_t div_up(uint32_t a, uint32_t b)
{
    return (a + b - 1u) / b;
}

uint32_t qhil_fc_scratch_size(const qhil_fc_params *p)
{
    /* inputs (reordered or padded), two a word, then one raw sum per padded row: the
     * 2-bit loop pads inputs the most (to 16), the int16 and int8 ones rows (to 4) */
    return 4u * (div_up(p->n_in, 16u) * 8u + div_up(p->n_out, 4u) * 4u);
}

static int64_t bias_max(const qhil_fc_params *p)
{
    int64_t m = 0;
    for (uint32_t i = 0; i < p->n_out; i++) {
        const int64_t b = p->bias[i] < 0 ? -(int64_t)p->bias[i] : p->bias[i];
        m = b > m ? b : m;
    }
    return m;
}

/* The 4- and 2-bit loops' sums (bias included) are 2^scale (16, 64) times the true ones
 * and must not overflow. */
static int fits_scaled(const qhil_fc_params *p, uint32_t scale)
{
    const int64_t wmax = (1 << (p->w_bits - 1u)) - 1;
    const int64_t bound = ((int64_t)p->n_in * wmax * p->in_max + bias_max(p)) << scale;
    return bound <= INT32_MAX;
}

/* log2 of how much larger than the true sums the loop of this width keeps its sums. */
static uint32_t scale_of(uint32_t bits)
{
    return bits == 4u ? 4u : (bits == 2u ? 6u : 0u);
}

/*
 * Requantization in four instructions. With n = max(shift, 33) and the accumulator scaled
 * up by 2^(n - shift) (the product only gains zero low bits, so the floor of the
 * tie-broken quotient is unchanged), qhil_nn_requantize_fast's identity gives
 *   q = (hi32(acc * mult - neg) + 2^(n-33)) >> (n - 32),   neg = (acc < 0),
 * and one SMLAL onto {lo, hi} = {-neg, 2^(n-33) - neg} forms the shifted operand. Valid
 * while the scaled accumulator fits int32: prepare checks the layer's worst case.
 */
static int make_records(const qhil_fc_params *p, qhil_fc_rq *rq)
{
    /* qhil_requant_s16_dsp.S saturates to the loader's two kinds of range only:
     * [0, 2^A - 1] (ReLU layers, A in 2..8) and A signed bits (A in 2..10: identity and
     * output layers, tanh layers' table indices) */
    const int32_t span = p->out_max - p->out_min;
    if (span < 3 || (span & (span + 1)) != 0 || (p->out_min == 0 && span > 255) ||
        (p->out_min != 0 && (span > 1023 || p->out_min != -(span + 1) / 2))) {
        return 0;
    }
    const int64_t bound = (int64_t)p->n_in * (1 << (p->w_bits - 1u)) * p->in_max + bias_max(p);
    for (uint32_t i = 0; i < p->n_out; i++) {
        const int32_t lsl = p->shift[i] < 33 ? 33 - p->shift[i] : 0;
        if (lsl > 30 || bound >= ((int64_t)1 << (31 - lsl))) {
            return 0;
        }
        const int32_t n = p->shift[i] + lsl;
        rq[i].mult = p->mult[i];
        rq[i].round = 1 << (n - 33);
        rq[i].rsh = n - 32;
        rq[i].lsl = lsl;
    }
    return 1;
}

/* Weights of one layer in the loops' order: per block of rows, per group, per row, the
 * group's codes (one word, two for int16). */
static void lay_out(const qhil_fc_params *p, uint32_t bits, uint8_t *dst)
{
    const uint32_t g = group_of(bits);
    const uint32_t r = rows_of(bits);
    const uint32_t groups = div_up(p->n_in, g);
    for (uint32_t b = 0; b < div_up(p->n_out, r); b++) {
        for (uint32_t grp = 0; grp < groups; grp++) {
            for (uint32_t j = 0; j < r; j++, dst += g * bits / 8u) {
                const uint32_t row = b * r + j;
                uint32_t words[2] = {0, 0};
                for (uint32_t c = 0; c < g && row < p->n_out; c++) {
                    const uint32_t col = grp * g + c;
                    if (col < p->n_in) {
                        uint32_t code = (uint32_t)qhil_fc_weight(p, row, col);
                        words[c * bits / 32u] |= (code & ((1u << bits) - 1u))
                                                 << (c * bits % 32u);
                    }
                }
                memcpy(dst, words, g * bits / 8u);
            }
        }
    }
}

static uint32_t copy_bytes(const qhil_fc_params *p, uint32_t bits)
{
    return div_up(p->n_in, group_of(bits)) * group_of(bits) * bits / 8u *
           div_up(p->n_out, rows_of(bits)) * rows_of(bits);
}

/* Stored weights already in a loop's order (docs/model-format.md#layouts) run in place. */
static uint32_t in_place_bits(const qhil_fc_params *p)
{
    if (QHIL_KERNEL_HAS(8) && p->w_bits == 8u && p->layout_rows == 4u &&
        p->layout_group == 4u) {
        return 8u;
    }
    if (QHIL_KERNEL_HAS(4) && p->w_bits == 4u && p->layout_rows == 2u &&
        p->layout_group == 8u && fits_scaled(p, 4u)) {
        return 4u;
    }
    if (QHIL_KERNEL_HAS(2) && p->w_bits == 2u && p->layout_rows == 2u &&
        p->layout_group == 16u && fits_scaled(p, 6u)) {
        return 2u;
    }
    return 0u;
}

/* The sums' starting values: a word per row of whole blocks. */
static uint32_t init_bytes(const qhil_fc_params *p, uint32_t bits)
{
    return 4u * div_up(p->n_out, rows_of(bits)) * rows_of(bits);
}

/* With widen, the fastest copy that fits: int16 (2 bytes a weight), int8, then nibbles
 * for 2- to 4-bit codes; 0 for none. */
static uint32_t copy_bits(const qhil_fc_params *p, uint32_t cap)
{
    const uint32_t records = p->n_out * (uint32_t)sizeof(qhil_fc_rq);
    uint32_t bits = 16u;
    while (copy_bytes(p, bits) + init_bytes(p, bits) + records > cap ||
           (bits == 4u && !fits_scaled(p, 4u))) {
        if (bits == 4u || (bits == 8u && p->w_bits > 4u)) {
            return 0u;
        }
        bits /= 2u;
    }
    return bits;
}

/* Weights in a loop's order: in place when they are stored so, else (only with widen) a
 * copy; neither, and the layer runs the portable kernel. Then the sums' starting values
 * (the bias, scaled as the loop scales its sums, zero for padding rows) and, where they
 * fit, the requantization records; compact, or without room for the starting sums, the
 * loops start from the stored bias and keep nothing. */
uint32_t qhil_fc_opt_prepare(qhil_fc_params *p, uint8_t *mem, uint32_t cap, uint32_t how)
{
    p->repacked = NULL;
    p->rq = NULL;
    p->acc_init = NULL;
    p->kernel_bits = 0;
    p->kernel_mode = 0;
    uint32_t used = 0;
    const int compact = (how & QHIL_PREPARE_COMPACT) != 0u;
    /* a flash image links no copy loop: its model is read where it lies */
    uint32_t bits = (!compact && (how & QHIL_PREPARE_WIDEN) != 0u && COPIES) ? copy_bits(p, cap)
                                                                              : 0u;
    if (bits != 0u) {
        lay_out(p, bits, mem);
        p->repacked = mem;
        used = copy_bytes(p, bits);
    } else {
        bits = in_place_bits(p);
        if (bits == 0u) {
            return 0;
        }
        p->repacked = p->weights;
    }
    p->kernel_bits = (uint8_t)bits;
    /* asked, or no room for the starting sums: the sums start from the stored bias,
     * unscaled, and rows requantize without records */
    if (compact || (used == 0u && init_bytes(p, bits) > cap)) {
        p->acc_init = p->bias;
        p->kernel_mode = KEPT_NOTHING;
        return 0;
    }
    int32_t *init = (int32_t *)(void *)(mem + used);
    const int32_t scale = 1 << scale_of(bits); /* fits_scaled: no overflow */
    for (uint32_t i = 0; i < init_bytes(p, bits) / 4u; i++) {
        init[i] = i < p->n_out ? p->bias[i] * scale : 0;
    }
    p->acc_init = init;
    used += init_bytes(p, bits);
    const uint32_t records = p->n_out * (uint32_t)sizeof(qhil_fc_rq);
    qhil_fc_rq *rq = (qhil_fc_rq *)(void *)(mem + used);
    if (records <= cap - used && make_records(p, rq)) {
        p->rq = rq;
        used += records;
    }
    return used;
}

static inline uint32_t load_pair(const int16_t *x)
{
    uint32_t v;
    memcpy(&v, x, 4); /* unaligned LDR: v7E-M allows it */
    return v;
}

/* The low halves of a and b as one word (a's low, b's low): PKHBT. GCC writes the C
 * form of both packs as two instructions each. */
static inline uint32_t pack_low(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* The high halves of a and b as one word (a's high, b's high): PKHTB. */
static inline uint32_t pack_high(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}

/* 8-bit order of four inputs: (x0,x2) (x1,x3). */
static inline void order_s8(const int16_t *x, uint32_t *xw)
{
    const uint32_t a = load_pair(x);
    const uint32_t b = load_pair(x + 2);
    xw[0] = pack_low(a, b);
    xw[1] = pack_high(a, b);
}

/* 4-bit order of eight inputs: (x0,x4) (x2,x6) (x1,x5) (x3,x7). */
static inline void order_s4(const int16_t *x, uint32_t *xw)
{
    const uint32_t a = load_pair(x);
    const uint32_t b = load_pair(x + 2);
    const uint32_t c = load_pair(x + 4);
    const uint32_t d = load_pair(x + 6);
    xw[0] = pack_low(a, c);
    xw[1] = pack_low(b, d);
    xw[2] = pack_high(a, c);
    xw[3] = pack_high(b, d);
}

/* 2-bit order of sixteen inputs: (x0,x8) (x4,x12) (x1,x9) (x5,x13) (x2,x10) (x6,x14)
 * (x3,x11) (x7,x15), the pairs SXTB16 makes of the four code sets. */
static inline void order_s2(const int16_t *x, uint32_t *xw)
{
    const uint32_t a = load_pair(x);      /* x0, x1 */
    const uint32_t b = load_pair(x + 2);  /* x2, x3 */
    const uint32_t c = load_pair(x + 4);  /* x4, x5 */
    const uint32_t d = load_pair(x + 6);  /* x6, x7 */
    const uint32_t e = load_pair(x + 8);  /* x8, x9 */
    const uint32_t f = load_pair(x + 10); /* x10, x11 */
    const uint32_t g = load_pair(x + 12); /* x12, x13 */
    const uint32_t h = load_pair(x + 14); /* x14, x15 */
    xw[0] = pack_low(a, e);
    xw[1] = pack_low(c, g);
    xw[2] = pack_high(a, e);
    xw[3] = pack_high(c, g);
    xw[4] = pack_low(b, f);
    xw[5] = pack_low(d, h);
    xw[6] = pack_high(b, f);
    xw[7] = pack_high(d, h);
}

/* The whole input vector in a loop's group order (groups of `group` inputs, 16 at most,
 * each put in order by `order`), the last group padded with zeros. */
__attribute__((always_inline)) static inline void reorder(
    const int16_t *in, uint32_t n, uint32_t group, void (*order)(const int16_t *, uint32_t *),
    uint32_t *xw)
{
    uint32_t k = 0;
    for (; k + group <= n; k += group, xw += group / 2u) {
        order(in + k, xw);
    }
    if (k < n) {
        int16_t last[16];
        memset(last, 0, group * sizeof(int16_t));
        memcpy(last, in + k, (n - k) * sizeof(int16_t));
        order(last, xw);
    }
}

typedef void (*requant_fn)(const int32_t *acc, const qhil_fc_rq *rq, int16_t *out,
                           uint32_t n);
#define QHIL_REQUANT(A)                                                                    \
    void qhil_requant_relu##A(const int32_t *, const qhil_fc_rq *, int16_t *, uint32_t);  \
    void qhil_requant_sat##A(const int32_t *, const qhil_fc_rq *, int16_t *, uint32_t);
QHIL_REQUANT(2)
QHIL_REQUANT(3)
QHIL_REQUANT(4)
QHIL_REQUANT(5)
QHIL_REQUANT(6)
QHIL_REQUANT(7)
QHIL_REQUANT(8)
#undef QHIL_REQUANT
void qhil_requant_sat9(const int32_t *, const qhil_fc_rq *, int16_t *, uint32_t);
void qhil_requant_sat10(const int32_t *, const qhil_fc_rq *, int16_t *, uint32_t);

static const requant_fn requant_relu[11] = {
    NULL, NULL, qhil_requant_relu2, qhil_requant_relu3, qhil_requant_relu4,
    qhil_requant_relu5, qhil_requant_relu6, qhil_requant_relu7, qhil_requant_relu8, NULL, NULL};
static const requant_fn requant_sat[11] = {
    NULL, NULL, qhil_requant_sat2, qhil_requant_sat3, qhil_requant_sat4,
    qhil_requant_sat5, qhil_requant_sat6, qhil_requant_sat7, qhil_requant_sat8,
    qhil_requant_sat9, qhil_requant_sat10};

static void requantize_rows(const qhil_fc_params *p, const int32_t *acc, int16_t *out)
{
    const int32_t lo = p->out_min;
    const int32_t hi = p->out_max;
    if (p->kernel_mode == KEPT_NOTHING) {
        /* the loops answer (init + 2^s sum) >> s; from the unscaled bias that is
         * sum + (bias >> s), as 2^s sum has no low bits */
        const uint32_t s = scale_of(p->kernel_bits);
        for (uint32_t i = 0; i < p->n_out; i++) {
            const int32_t b = p->bias[i];
            const int32_t a = acc[i] + (b - (b >> s));
            out[i] = (int16_t)qhil_nn_requantize_fast(a, p->mult[i], p->shift[i], lo, hi);
        }
        return;
    }
    if (p->rq != NULL) {
        /* records exist only for the two ranges of make_records, both 2^A - 1 wide */
        const uint32_t a = 32u - (uint32_t)__builtin_clz((uint32_t)(hi - lo));
        (lo == 0 ? requant_relu : requant_sat)[a](acc, p->rq, out, p->n_out);
        return;
    }
    for (uint32_t i = 0; i < p->n_out; i++) {
        out[i] = (int16_t)qhil_nn_requantize_fast(acc[i], p->mult[i], p->shift[i], lo, hi);
    }
}

/*
 * The rows through a loop: whole blocks, then a last block with one real row on its own
 * (in a block pass padding rows cost as much as real ones).
 */
__attribute__((always_inline)) static inline void rows_through(
    const qhil_fc_params *p, mat_acc_fn blocks_fn, row1_fn row_fn, uint32_t r, uint32_t groups,
    const uint32_t *x, int32_t *acc)
{
    /* compact: the stored bias has no padding rows to start a last partial block from */
    const uint32_t whole = p->n_out / r + (p->n_out % r > 1u && p->kernel_mode != KEPT_NOTHING
                                               ? 1u : 0u);
    if (whole != 0u) {
        blocks_fn(x, p->repacked, groups, whole, acc, p->acc_init);
    }
    const uint32_t group_bytes = 32u / 8u; /* one word of codes per row and group */
    const uint8_t *block = p->repacked + whole * groups * r * group_bytes;
    for (uint32_t i = whole * r; i < p->n_out; i++) {
        acc[i] = row_fn(x, block + (i % r) * group_bytes, groups, p->acc_init[i]);
    }
}

static void fc_prepared(const qhil_fc_params *p, const int16_t *in, int16_t *out,
                        uint32_t *scratch)
{
    const uint32_t n_in = p->n_in;
    if (COPIES && p->kernel_bits == 16u) {
        const uint32_t groups = div_up(n_in, 4u);
        int32_t *acc = (int32_t *)(void *)(scratch + 2u * groups);
        memcpy(scratch, in, n_in * sizeof(int16_t));
        memset((int16_t *)(void *)scratch + n_in, 0, (groups * 4u - n_in) * sizeof(int16_t));
        qhil_mat_acc4_s16(scratch, p->repacked, groups, div_up(p->n_out, 4u), acc, p->acc_init);
        requantize_rows(p, acc, out);
    } else if ((COPIES || QHIL_KERNEL_HAS(8)) && p->kernel_bits == 8u) {
        const uint32_t groups = div_up(n_in, 4u);
        int32_t *acc = (int32_t *)(void *)(scratch + 2u * groups);
        reorder(in, n_in, 4u, order_s8, scratch);
        rows_through(p, qhil_mat_acc4_s8, qhil_row1_s8, 4u, groups, scratch, acc);
        requantize_rows(p, acc, out);
    } else if ((COPIES || QHIL_KERNEL_HAS(4)) && p->kernel_bits == 4u) {
        const uint32_t groups = div_up(n_in, 8u);
        int32_t *acc = (int32_t *)(void *)(scratch + 4u * groups);
        reorder(in, n_in, 8u, order_s4, scratch);
        rows_through(p, qhil_mat_acc2_s4, qhil_row1_s4, 2u, groups, scratch, acc);
        requantize_rows(p, acc, out);
    } else if ((COPIES || QHIL_KERNEL_HAS(2)) && p->kernel_bits == 2u) {
        const uint32_t groups = div_up(n_in, 16u);
        int32_t *acc = (int32_t *)(void *)(scratch + 8u * groups);
        reorder(in, n_in, 16u, order_s2, scratch);
        rows_through(p, qhil_mat_acc2_s2, qhil_row1_s2, 2u, groups, scratch, acc);
        requantize_rows(p, acc, out);
    } else { /* prepare makes no other kind */
        qhil_fc_opt_c(p, in, out, scratch);
    }
}

void qhil_fc_opt(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    if (p->repacked != NULL) {
        fc_prepared(p, in, out, (uint32_t *)scratch);
    } else {
        qhil_fc_opt_c(p, in, out, scratch);
    }
}
