/* Blob validation and inference. Every check mirrors host/qhil/quant/blob.py. */
#include "qhil_model.h"

#include <math.h>
#include <stddef.h>

#include "qhil_crc32.h"
#include "qhil_kernel_widths.h"
#include "qhil_nn_support.h"

#if QHIL_KERNEL_TFLITE
#define TFLITE_KERNEL qhil_fc_tflite_s8
#else
#define TFLITE_KERNEL qhil_fc_ref
#endif

#define HEADER_SIZE 64u
#define LAYER_SIZE 32u
#define MAX_DIM 1024u
#define MAX_SECTIONS (QHIL_MAX_LAYERS * 5u + 5u)

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

typedef struct {
    uint32_t off;
    uint32_t size;
} span;

typedef struct {
    uint32_t body_end;
    span spans[MAX_SECTIONS];
    uint32_t n_spans;
} section_check;

/* A section must be 4-byte aligned and inside [HEADER_SIZE, body_end). */
static int section_ok(section_check *c, uint32_t off, uint32_t size)
{
    if ((off & 3u) != 0u || off < HEADER_SIZE || off > c->body_end ||
        size > c->body_end - off || c->n_spans >= MAX_SECTIONS) {
        return 0;
    }
    c->spans[c->n_spans].off = off;
    c->spans[c->n_spans].size = size;
    c->n_spans++;
    return 1;
}

static int sections_disjoint(section_check *c)
{
    /* insertion sort by offset; at most 44 entries */
    for (uint32_t i = 1; i < c->n_spans; i++) {
        span s = c->spans[i];
        uint32_t j = i;
        while (j > 0 && c->spans[j - 1u].off > s.off) {
            c->spans[j] = c->spans[j - 1u];
            j--;
        }
        c->spans[j] = s;
    }
    uint32_t end = 0;
    for (uint32_t i = 0; i < c->n_spans; i++) {
        if (c->spans[i].size == 0u) {
            continue;
        }
        if (c->spans[i].off < end) {
            return 0;
        }
        end = c->spans[i].off + c->spans[i].size;
    }
    return 1;
}

/* The float32 values at p (4-byte aligned, inside the checked body) are all finite. */
static int all_finite(const uint8_t *p, uint32_t count)
{
    const float *x = (const float *)(const void *)p;
    for (uint32_t i = 0; i < count; i++) {
        if (!isfinite(x[i])) {
            return 0;
        }
    }
    return 1;
}

static int all_zero(const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] != 0u) {
            return 0;
        }
    }
    return 1;
}

/* A blocked layout's padding rows and inputs hold zero codes. */
static int blocked_padding_zero(const qhil_fc_params *p)
{
    const uint32_t r = p->layout_rows;
    const uint32_t g = p->layout_group;
    const uint32_t rows = (p->n_out + r - 1u) / r * r;
    const uint32_t cols = (p->n_in + g - 1u) / g * g;
    for (uint32_t i = 0; i < rows; i++) {
        for (uint32_t k = i < p->n_out ? p->n_in : 0u; k < cols; k++) {
            if (qhil_fc_weight(p, i, k) != 0) {
                return 0;
            }
        }
    }
    return 1;
}

/* Weight codes in the symmetric range, zero padding, and the accumulator bound. */
static qhil_model_error check_layer_values(const qhil_fc_params *p)
{
    const uint32_t bits = p->w_bits;
    const uint32_t row_bytes = qhil_nn_row_bytes(p->n_in, bits);
    const int32_t limit = (1 << (bits - 1u)) - 1;
    if (p->layout_group != 0u && !blocked_padding_zero(p)) {
        return QHIL_MODEL_ERR_PADDING;
    }
    for (uint32_t i = 0; i < p->n_out; i++) {
        int64_t bound = 0;
        for (uint32_t k = 0; k < p->n_in; k++) {
            int32_t w = qhil_fc_weight(p, i, k);
            if (w < -limit) {
                return QHIL_MODEL_ERR_WEIGHT;
            }
            bound += (int64_t)(w < 0 ? -w : w) * p->in_max;
        }
        const uint8_t *row = p->weights + i * row_bytes;
        const uint32_t used = p->n_in * bits;
        if (p->layout_group == 0u && used % 8u != 0u &&
            ((uint32_t)row[used / 8u] >> (used % 8u)) != 0u) {
            return QHIL_MODEL_ERR_PADDING;
        }
        int32_t m = p->mult[i];
        int32_t s = p->shift[i];
        const int shift_ok = p->tflite ? (s >= -31 && s <= 30) : (s >= 1 && s <= 62);
        if ((m != 0 && m < (1 << 30)) || m < 0 || !shift_ok) {
            return QHIL_MODEL_ERR_REQUANT;
        }
        int64_t b = p->bias[i];
        bound += b < 0 ? -b : b;
        if (p->tflite && s > 0) { /* the left shift comes before the multiply */
            bound <<= s;
        }
        if (bound > INT32_MAX) {
            return QHIL_MODEL_ERR_ACC_BOUND;
        }
    }
    return QHIL_MODEL_OK;
}

/* The action code of the last layer's code v: the output tanh table's entry, from the odd
 * half when the blob stores only that (entry(-v) = -entry(v) but for v = -2^(A-1)). */
static int16_t output_code(const qhil_model *m, int16_t v)
{
    if (m->lut == NULL) {
        return v;
    }
    if (!m->lut_half) {
        return m->lut[v + m->lut_offset];
    }
    if (v >= 0) {
        return m->lut[v];
    }
    if ((int32_t)v == -m->lut_offset) {
        return m->lut[m->lut_offset];
    }
    return (int16_t)-m->lut[-v];
}

qhil_model_error qhil_model_load(qhil_model *m, const uint8_t *blob, uint32_t size)
{
    m->n_layers = 0; /* unusable until the end */
    if (size < HEADER_SIZE + 4u) {
        return QHIL_MODEL_ERR_SIZE;
    }
    if (blob[0] != 'Q' || blob[1] != 'H' || blob[2] != 'I' || blob[3] != 'L') {
        return QHIL_MODEL_ERR_MAGIC;
    }
    const uint16_t version = rd16(blob + 4);
    if (version < 1u || version > QHIL_MODEL_FORMAT_MAX) {
        return QHIL_MODEL_ERR_VERSION;
    }
    if (rd16(blob + 6) != HEADER_SIZE || rd32(blob + 8) != size) {
        return QHIL_MODEL_ERR_SIZE;
    }
    uint32_t crc = qhil_crc32(0, blob, size - 4u);
    if (crc != rd32(blob + size - 4u)) {
        return QHIL_MODEL_ERR_CRC;
    }
    const uint8_t kind = blob[12];
    const uint8_t n_layers = blob[13];
    const uint8_t in_bits = blob[14];
    const uint8_t output = blob[15];
    const uint8_t out_bits = blob[16];
    const uint16_t obs_dim = rd16(blob + 20);
    const uint16_t act_dim = rd16(blob + 22);
    const uint32_t layers_off = rd32(blob + 24);
    const uint32_t lut_off = rd32(blob + 28);
    const uint32_t host_off = rd32(blob + 32);
    const uint32_t host_size = rd32(blob + 36);
    const uint32_t meta_off = rd32(blob + 40);
    const uint32_t meta_size = rd32(blob + 44);
    /* version 4: byte 17 the arithmetic, byte 18 the flags, bytes 56..59 the tflite
     * section's offset */
    const uint8_t arith = blob[17];
    const uint8_t flags = blob[18];
    const int half_table = (flags & QHIL_FLAG_HALF_TABLE) != 0u;
    const uint32_t tfl_off = rd32(blob + 56);
    const int tflite = arith == QHIL_ARITH_TFLITE;
    /* bytes 48..55: version 3 integer models' per-layer layouts, zero past n_layers */
    const uint32_t n_layouts =
        (version >= 3u && kind == QHIL_KIND_INT && n_layers <= 8u) ? n_layers : 0u;
    if ((version < 4u && arith != 0u) || arith > QHIL_ARITH_TFLITE ||
        (!tflite && tfl_off != 0u) ||
        (tflite && (kind != QHIL_KIND_INT || output != QHIL_OUTPUT_LINEAR || in_bits != 8u ||
                    out_bits != 8u)) ||
        (version < 4u && flags != 0u) || (flags & (uint8_t)~QHIL_FLAG_HALF_TABLE) != 0u ||
        (half_table && (kind != QHIL_KIND_INT || output != QHIL_OUTPUT_TANH)) ||
        blob[19] != 0u || !all_zero(blob + 48u + n_layouts, 8u - n_layouts) ||
        !all_zero(blob + 60, 4) || n_layers < 1u ||
        n_layers > QHIL_MAX_LAYERS || output > 1u || obs_dim < 1u || obs_dim > MAX_DIM ||
        act_dim < 1u || act_dim > MAX_DIM || layers_off != HEADER_SIZE) {
        return QHIL_MODEL_ERR_HEADER;
    }
    if (kind == QHIL_KIND_INT) {
        if (in_bits < 2u || in_bits > 16u || out_bits < 2u || out_bits > 16u) {
            return QHIL_MODEL_ERR_HEADER;
        }
    } else if (kind == QHIL_KIND_F32) {
#ifdef QHIL_NO_F32
        return QHIL_MODEL_ERR_KIND;
#else
        if (in_bits != 32u || out_bits != 32u) {
            return QHIL_MODEL_ERR_HEADER;
        }
#endif
    } else {
        return QHIL_MODEL_ERR_KIND;
    }
    section_check sc = {.body_end = size - 4u, .n_spans = 0};
    if (!section_ok(&sc, layers_off, n_layers * LAYER_SIZE)) {
        return QHIL_MODEL_ERR_SECTION;
    }

    const uint8_t *tfl = NULL; /* per layer: zero point, clamp min, clamp max, reserved */
    if (tflite) {
        if (!section_ok(&sc, tfl_off, 4u * n_layers)) {
            return QHIL_MODEL_ERR_SECTION;
        }
        tfl = blob + tfl_off;
        for (uint32_t l = 0; l < n_layers; l++) {
            if (tfl[4u * l + 3u] != 0u || (int8_t)tfl[4u * l + 1u] > (int8_t)tfl[4u * l + 2u]) {
                return QHIL_MODEL_ERR_HEADER;
            }
        }
    }
    uint32_t prev = obs_dim;
    /* inputs: symmetric codes, or tflite's whole int8 range */
    int32_t in_max = tflite ? 128 : (kind == QHIL_KIND_INT) ? (1 << (in_bits - 1u)) - 1 : 0;
    int32_t in_min = tflite ? -128 : -in_max;
    uint32_t macs = 0;
    for (uint32_t l = 0; l < n_layers; l++) {
        const uint8_t *r = blob + HEADER_SIZE + l * LAYER_SIZE;
        const uint16_t n_in = rd16(r);
        const uint16_t n_out = rd16(r + 2);
        const uint8_t w_bits = r[4];
        const uint8_t a_bits = r[5];
        const uint8_t act = r[6];
        const uint32_t w_off = rd32(r + 8);
        const uint32_t w_size = rd32(r + 12);
        const uint32_t b_off = rd32(r + 16);
        const uint32_t m_off = rd32(r + 20);
        const uint32_t s_off = rd32(r + 24);
        const uint8_t lut_bits = r[7];
        const uint32_t t_off = rd32(r + 28);
        const int last = (l + 1u == n_layers);
        /* v1: ReLU hidden layers; v2: any of the three; the last layer has none;
         * tflite: identity or a table, the last layer too */
        const int act_ok = tflite ? (act == QHIL_ACT_NONE || act == QHIL_ACT_TANH)
                           : last ? act == QHIL_ACT_NONE
                                  : (act == QHIL_ACT_RELU ||
                                     (version >= 2u && act <= QHIL_ACT_TANH));
        const int has_table = (kind == QHIL_KIND_INT && act == QHIL_ACT_TANH);
        if (!has_table && (lut_bits != 0u || t_off != 0u)) {
            return QHIL_MODEL_ERR_HEADER;
        }
        if (n_in != prev || n_out < 1u || n_out > MAX_DIM || n_out > QHIL_MAX_WIDTH ||
            n_in > QHIL_MAX_WIDTH || !act_ok) {
            return QHIL_MODEL_ERR_SHAPE;
        }
        m->act_tables[l] = NULL;
        m->act_offsets[l] = 0;
        m->f32_tanh[l] = 0u;
        macs += (uint32_t)n_in * n_out;
        if (kind == QHIL_KIND_F32) {
            if (w_bits != 32u || a_bits != 32u || m_off != 0u || s_off != 0u) {
                return QHIL_MODEL_ERR_WIDTH;
            }
            if (w_size != 4u * n_in * n_out || !section_ok(&sc, w_off, w_size) ||
                !section_ok(&sc, b_off, 4u * n_out)) {
                return QHIL_MODEL_ERR_SECTION;
            }
            if (!all_finite(blob + w_off, n_in * n_out) || !all_finite(blob + b_off, n_out)) {
                return QHIL_MODEL_ERR_WEIGHT; /* a NaN or inf parameter poisons every answer */
            }
            qhil_fc_f32_params *f = &m->f32_layers[l];
            f->n_in = n_in;
            f->n_out = n_out;
            f->weights = (const float *)(const void *)(blob + w_off);
            f->bias = (const float *)(const void *)(blob + b_off);
            f->relu = (uint8_t)(act == QHIL_ACT_RELU);
            m->f32_tanh[l] = (uint8_t)(act == QHIL_ACT_TANH);
        } else {
            if (w_bits < 2u || w_bits > 8u || a_bits < 2u || a_bits > 8u ||
                (tflite && (w_bits != 8u || a_bits != 8u))) {
                return QHIL_MODEL_ERR_WIDTH;
            }
            qhil_fc_params *p = &m->layers[l];
            const uint8_t layout = blob[48u + l]; /* zero unless has_layouts */
            p->layout_rows = (uint8_t)(1u << (layout >> 4));
            p->layout_group = layout == 0u ? 0u : (uint8_t)(1u << (layout & 15u));
            if (layout != 0u && ((layout >> 4) > 3u || (layout & 15u) < 2u ||
                                 (layout & 15u) > 5u || (p->layout_group * w_bits) % 32u != 0u)) {
                return QHIL_MODEL_ERR_HEADER;
            }
            p->n_in = n_in;
            p->n_out = n_out;
            p->w_bits = w_bits;
            if (w_size != qhil_fc_weight_bytes(p) || !section_ok(&sc, w_off, w_size) || !section_ok(&sc, b_off, 4u * n_out) ||
                !section_ok(&sc, m_off, 4u * n_out) || !section_ok(&sc, s_off, 4u * n_out)) {
                return QHIL_MODEL_ERR_SECTION;
            }
            p->weights = blob + w_off;
            p->bias = (const int32_t *)(const void *)(blob + b_off);
            p->mult = (const int32_t *)(const void *)(blob + m_off);
            p->shift = (const int32_t *)(const void *)(blob + s_off);
            if (act == QHIL_ACT_RELU) {
                p->out_min = 0;
                p->out_max = (1 << a_bits) - 1;
            } else if (act == QHIL_ACT_NONE) {
                p->out_min = -(1 << (a_bits - 1u));
                p->out_max = (1 << (a_bits - 1u)) - 1;
            } else { /* tanh: the kernel's codes index the table */
                if (lut_bits < QHIL_LUT_BITS_MIN || lut_bits > QHIL_LUT_BITS_MAX) {
                    return QHIL_MODEL_ERR_LUT;
                }
                if (!section_ok(&sc, t_off, 1u << lut_bits)) {
                    return QHIL_MODEL_ERR_SECTION;
                }
                const int8_t *table = (const int8_t *)(const void *)(blob + t_off);
                const int32_t q = (1 << (a_bits - 1u)) - 1;
                if (tflite && lut_bits != 8u) { /* indexed by the whole int8 range */
                    return QHIL_MODEL_ERR_LUT;
                }
                for (uint32_t i = 0; i < (1u << lut_bits) && !tflite; i++) {
                    if (table[i] > q || table[i] < -q) {
                        return QHIL_MODEL_ERR_LUT;
                    }
                }
                p->out_min = -(1 << (lut_bits - 1u));
                p->out_max = (1 << (lut_bits - 1u)) - 1;
                m->act_tables[l] = table;
                m->act_offsets[l] = 1 << (lut_bits - 1u);
            }
            p->tflite = (uint8_t)tflite;
            p->out_zero = 0;
            if (tflite) { /* the clamp and zero point replace the activation's range */
                p->out_zero = (int8_t)tfl[4u * l];
                p->out_min = (int8_t)tfl[4u * l + 1u];
                p->out_max = (int8_t)tfl[4u * l + 2u];
            }
            p->in_max = in_max;
            p->in_min = in_min;
            p->repacked = NULL;
            p->rq = NULL;
            p->acc_init = NULL;
            p->kernel_bits = 0;
            p->kernel_mode = 0;
            qhil_model_error e = check_layer_values(p);
            if (e != QHIL_MODEL_OK) {
                return e;
            }
            /* the largest |code| the next layer receives */
            in_max = tflite                 ? 128
                     : act == QHIL_ACT_RELU ? (1 << a_bits) - 1
                     : act == QHIL_ACT_TANH ? (1 << (a_bits - 1u)) - 1
                                            : (1 << (a_bits - 1u));
            in_min = tflite ? -128 : act == QHIL_ACT_RELU ? 0 : -in_max;
        }
        prev = n_out;
    }
    if (prev != act_dim) {
        return QHIL_MODEL_ERR_SHAPE;
    }
    const uint32_t host_words = tflite ? 5u + 2u * act_dim : 2u * obs_dim + 1u + 2u * act_dim;
    /* version 4 lets a device image leave out the host-only sections (offset and size 0) */
    const int no_host = version >= 4u && host_off == 0u && host_size == 0u;
    const int no_meta = version >= 4u && meta_off == 0u && meta_size == 0u;
    if ((!no_host && (host_size != 4u * host_words || !section_ok(&sc, host_off, host_size))) ||
        (!no_meta && !section_ok(&sc, meta_off, meta_size))) {
        return QHIL_MODEL_ERR_SECTION;
    }
    m->lut = NULL;
    m->lut_offset = 0;
    m->lut_half = 0;
    if (kind == QHIL_KIND_INT && output == QHIL_OUTPUT_TANH) {
        const uint32_t a_last = (uint32_t)m->layers[n_layers - 1u].out_max + 1u; /* 2^(A-1) */
        /* the odd half: the entries of codes 0..2^(A-1)-1, then the one of -2^(A-1) */
        const uint32_t entries = half_table ? a_last + 1u : 2u * a_last;
        if (!section_ok(&sc, lut_off, 2u * entries)) {
            return QHIL_MODEL_ERR_SECTION;
        }
        const int16_t *lut = (const int16_t *)(const void *)(blob + lut_off);
        const int32_t q_out = (1 << (out_bits - 1u)) - 1;
        for (uint32_t i = 0; i < entries; i++) {
            if (lut[i] > q_out || lut[i] < -q_out) {
                return QHIL_MODEL_ERR_LUT;
            }
        }
        m->lut = lut;
        m->lut_offset = (int32_t)a_last;
        m->lut_half = (uint8_t)half_table;
    } else if (lut_off != 0u) {
        return QHIL_MODEL_ERR_LUT;
    }
    if (!sections_disjoint(&sc)) {
        return QHIL_MODEL_ERR_SECTION;
    }
    m->kind = kind;
    m->in_bits = in_bits;
    m->output = output;
    m->obs_dim = obs_dim;
    m->act_dim = act_dim;
    m->model_id = crc;
    m->macs = macs;
    m->in_max = tflite ? 127 : (kind == QHIL_KIND_INT) ? (1 << (in_bits - 1u)) - 1 : 0;
    m->in_min = tflite ? -128 : -m->in_max;
    m->n_layers = n_layers; /* usable from here on */
    return QHIL_MODEL_OK;
}

uint32_t qhil_model_prepare(qhil_model *m, uint8_t *mem, uint32_t cap, uint32_t how)
{
    uint32_t used = 0;
    if (m->kind != QHIL_KIND_INT) {
        return 0;
    }
    for (uint32_t l = 0; l < m->n_layers; l++) {
        if (m->layers[l].tflite) { /* the reference kernel runs it: nothing to prepare */
            continue;
        }
        uint32_t n = qhil_fc_opt_prepare(&m->layers[l], mem + used, cap - used, how);
        used += (n + 3u) & ~3u;
        if (used > cap) { /* cannot happen: prepare never exceeds cap; stay safe anyway */
            used = cap;
        }
    }
    return used;
}

static int force_reference;

void qhil_model_force_reference(int enable)
{
    force_reference = enable;
}

/* Ping-pong activation buffers and kernel scratch: the only RAM inference uses. */
static int16_t act_a[QHIL_MAX_WIDTH];
static int16_t act_b[QHIL_MAX_WIDTH];
static uint32_t kernel_scratch[QHIL_FC_SCRATCH_WORDS(QHIL_MAX_WIDTH)];

qhil_status qhil_model_infer_layers(const qhil_model *m, const int16_t *in, int16_t *out,
                                    qhil_clock_fn clock, uint32_t *layer_costs)
{
    if (m->n_layers == 0u) {
        return QHIL_ERR_NO_MODEL;
    }
    if (m->kind != QHIL_KIND_INT) {
        return QHIL_ERR_STATE;
    }
    /* one unsigned compare per code: in_min <= in[k] <= in_max */
    const uint32_t span = (uint32_t)(m->in_max - m->in_min);
    for (uint32_t k = 0; k < m->obs_dim; k++) {
        if ((uint32_t)((int32_t)in[k] - m->in_min) > span) {
            return QHIL_ERR_INPUT;
        }
    }
    const int16_t *x = in;
    int16_t *bufs[2] = {act_a, act_b};
    /* the arithmetic is the model's (every layer or none is tflite), so is the kernel */
    void (*const kernel)(const qhil_fc_params *, const int16_t *, int16_t *, void *) =
        force_reference ? qhil_fc_ref : m->layers[0].tflite ? TFLITE_KERNEL : qhil_fc_opt;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        int16_t *y = bufs[l & 1u];
        const qhil_fc_params *p = &m->layers[l];
        const uint32_t t0 = clock != NULL ? clock() : 0u;
        kernel(p, x, y, kernel_scratch);
        if (m->act_tables[l] != NULL) {
            qhil_act_table_s16(y, p->n_out, m->act_tables[l], m->act_offsets[l]);
        }
        if (clock != NULL) {
            layer_costs[l] = clock() - t0;
        }
        x = y;
    }
    for (uint32_t i = 0; i < m->act_dim; i++) {
        out[i] = output_code(m, x[i]);
    }
    return QHIL_OK;
}

qhil_status qhil_model_infer(const qhil_model *m, const int16_t *in, int16_t *out)
{
    return qhil_model_infer_layers(m, in, out, NULL, NULL);
}

#ifndef QHIL_NO_F32
#ifdef QHIL_F32_FPU
/* qhil_fc_f32_fpu.S reads the parameters at these offsets (C99: no static_assert). */
typedef char qhil_f32_layout_check[(offsetof(qhil_fc_f32_params, n_in) == 0 &&
                                    offsetof(qhil_fc_f32_params, n_out) == 2 &&
                                    offsetof(qhil_fc_f32_params, weights) == 4 &&
                                    offsetof(qhil_fc_f32_params, bias) == 8 &&
                                    offsetof(qhil_fc_f32_params, relu) == 12) ? 1 : -1];
#endif
static float fact_a[QHIL_MAX_WIDTH];
static float fact_b[QHIL_MAX_WIDTH];

qhil_status qhil_model_infer_f32(const qhil_model *m, const float *in, float *out)
{
    if (m->n_layers == 0u) {
        return QHIL_ERR_NO_MODEL;
    }
    if (m->kind != QHIL_KIND_F32) {
        return QHIL_ERR_STATE;
    }
    const float *x = in;
    float *bufs[2] = {fact_a, fact_b};
    for (uint32_t l = 0; l < m->n_layers; l++) {
        float *y = bufs[l & 1u];
#ifdef QHIL_F32_FPU
        if (!force_reference) {
            qhil_fc_f32_opt(&m->f32_layers[l], x, y);
        } else {
            qhil_fc_f32(&m->f32_layers[l], x, y);
        }
#else
        qhil_fc_f32(&m->f32_layers[l], x, y);
#endif
        if (m->f32_tanh[l]) {
            for (uint32_t i = 0; i < m->f32_layers[l].n_out; i++) {
                y[i] = tanhf(y[i]);
            }
        }
        x = y;
    }
    for (uint32_t i = 0; i < m->act_dim; i++) {
        out[i] = m->output == QHIL_OUTPUT_TANH ? tanhf(x[i]) : x[i];
    }
    return QHIL_OK;
}
#else
qhil_status qhil_model_infer_f32(const qhil_model *m, const float *in, float *out)
{
    (void)m;
    (void)in;
    (void)out;
    return QHIL_ERR_STATE;
}
#endif
