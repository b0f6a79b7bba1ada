/*
 * Optimized portable C kernel (Cortex-M0/M3, native): one specialized inner loop per
 * common width. Byte loads only, so it is safe on cores without unaligned access.
 * Widths without a specialization (5..7 bits) run the reference kernel.
 */
#include <stddef.h>

#include "qhil_nn.h"
#include "qhil_nn_support.h"

#ifndef QHIL_OPT_C_IS_FALLBACK
const char *const qhil_fc_opt_name = "c";
const uint8_t qhil_fc_opt_variant = 1;

uint32_t qhil_fc_scratch_size(const qhil_fc_params *p)
{
    (void)p;
    return 0;
}

void qhil_fc_opt(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    qhil_fc_opt_c(p, in, out, scratch);
}

uint32_t qhil_fc_opt_prepare(qhil_fc_params *p, uint8_t *mem, uint32_t cap)
{
    (void)mem;
    (void)cap;
    p->repacked = NULL;
    p->rq = NULL;
    p->kernel_bits = 0;
    return 0;
}
#endif

static int32_t dot_s8(const uint8_t *row, const int16_t *in, uint32_t n)
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

static int32_t dot_s4(const uint8_t *row, const int16_t *in, uint32_t n)
{
    int32_t acc = 0;
    uint32_t k = 0;
    for (; k + 2u <= n; k += 2u) {
        uint32_t b = *row++;
        acc += s4(b) * in[k] + s4(b >> 4) * in[k + 1u];
    }
    if (k < n) {
        acc += s4(*row) * in[k];
    }
    return acc;
}

static int32_t dot_s2(const uint8_t *row, const int16_t *in, uint32_t n)
{
    int32_t acc = 0;
    uint32_t k = 0;
    for (; k + 4u <= n; k += 4u) {
        uint32_t b = *row++;
        acc += s2(b) * in[k] + s2(b >> 2) * in[k + 1u] + s2(b >> 4) * in[k + 2u] +
               s2(b >> 6) * in[k + 3u];
    }
    for (uint32_t shift = 0; k < n; k++, shift += 2u) {
        acc += s2((uint32_t)*row >> shift) * in[k];
    }
    return acc;
}

void qhil_fc_opt_c(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    int32_t (*dot)(const uint8_t *, const int16_t *, uint32_t);
    switch (p->w_bits) {
    case 8:
        dot = dot_s8;
        break;
    case 4:
        dot = dot_s4;
        break;
    case 2:
        dot = dot_s2;
        break;
    default:
        qhil_fc_ref(p, in, out, scratch);
        return;
    }
    const uint32_t row_bytes = qhil_nn_row_bytes(p->n_in, p->w_bits);
    const uint8_t *row = p->weights;
    for (uint32_t i = 0; i < p->n_out; i++, row += row_bytes) {
        int32_t acc = p->bias[i] + dot(row, in, p->n_in);
        out[i] = (int16_t)qhil_nn_requantize_fast(acc, p->mult[i], p->shift[i], p->out_min,
                                             p->out_max);
    }
}
