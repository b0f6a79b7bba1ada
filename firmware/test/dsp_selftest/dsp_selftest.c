/*
 * Reference vs optimized kernel on the core itself (envs qemu-m4-kernels: DSP,
 * qemu-m55-kernels: Helium): random layers of every width and shape, each prepared at
 * every tier the kernel has - without widening, on the rows and (8-, 4- and 2-bit layers)
 * in the DSP loops' blocked layouts, where the DSP kernel runs in place, each also compact
 * (nothing kept at load: it must use no bytes); with widening, the
 * widest copy that fits, then with one byte less room each time until the layer runs the
 * portable kernel; the Helium kernel makes no copy - and compared bit for bit with
 * qhil_fc_ref; then random float32 layers, the FPU kernel
 * (qhil_fc_f32_opt) against qhil_fc_f32 within float rounding. Prints one line on the UART:
 *   qhil-kernels cases=<n> runs=<n> mismatches=<n> f32_cases=<n> f32_mismatches=<n>
 * and stops. Run by tests/test_firmware.py (test_dsp_kernel_matches_reference_on_the_core).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "qhil_nn.h"
#include "qhil_nn_support.h"
#include "qhil_port.h"
#include "../test_layout.h"
#include "../test_rng.h"

#define MAX_IN 160u
#define MAX_OUT 72u
#ifndef QHIL_SELFTEST_CASES
#define QHIL_SELFTEST_CASES 1000u
#endif
#define CASES QHIL_SELFTEST_CASES

static uint8_t weights[MAX_OUT * MAX_IN];
static uint8_t blocked[(MAX_OUT + 4u) * (MAX_IN + 8u)];
static int32_t bias[MAX_OUT];
static int32_t mult[MAX_OUT];
static int32_t shift[MAX_OUT];
static int16_t in[MAX_IN];
static int16_t out_ref[MAX_OUT];
static int16_t out_opt[MAX_OUT];
/* room for the widest copy (int16, padded) and the row records */
static uint32_t copy_mem[((MAX_IN + 8u) * (MAX_OUT + 4u) * 2u + MAX_OUT * 20u) / 4u];
static uint32_t scratch[QHIL_FC_SCRATCH_WORDS(MAX_IN > MAX_OUT ? MAX_IN : MAX_OUT)];

/* One layer in four is "tight": a few small inputs, small biases and scales near 1/2,
 * so that outputs do not saturate and exact rounding ties of both signs are common. */
static void random_layer(qhil_fc_params *p)
{
    const int tight = rnd() % 4u == 0u;
    p->n_in = (uint16_t)rnd_range(1, tight ? 6 : (int32_t)MAX_IN);
    p->n_out = (uint16_t)rnd_range(1, (int32_t)MAX_OUT);
    p->w_bits = (uint8_t)rnd_range(2, 8);
    const int32_t a_bits = tight ? 8 : rnd_range(2, 8);
    const int relu = tight ? 0 : (int)(rnd() & 1u);
    const int small_inputs = tight || (rnd() & 1u);
    p->in_max = tight ? 7 : (small_inputs ? (1 << a_bits) - 1 : rnd_range(1, 32767));
    p->in_min = relu ? 0 : -p->in_max;
    const uint32_t row_bytes = qhil_nn_row_bytes(p->n_in, p->w_bits);
    const int32_t lim = (1 << (p->w_bits - 1u)) - 1;
    memset(weights, 0, sizeof weights);
    for (uint32_t i = 0; i < p->n_out; i++) {
        for (uint32_t k = 0; k < p->n_in; k++) {
            uint32_t v = (uint32_t)rnd_range(-lim, lim) & ((1u << p->w_bits) - 1u);
            uint32_t bit = k * p->w_bits;
            uint8_t *r = weights + i * row_bytes;
            r[bit / 8u] |= (uint8_t)(v << (bit % 8u));
            if (bit % 8u + p->w_bits > 8u) {
                r[bit / 8u + 1u] |= (uint8_t)(v >> (8u - bit % 8u));
            }
        }
        /* a large bias now and then leaves no room to scale small-shift rows up */
        bias[i] = tight ? rnd_range(-40, 40)
                        : ((small_inputs && rnd() % 8u == 0u) ? 500000000
                                                              : rnd_range(-100000, 100000));
        /* mult = 2^30 makes exact ties frequent (odd accumulators at shift 31), where
         * rounding away from zero tells the signs apart */
        const uint32_t kind = tight ? 1u + rnd() % 2u : rnd() % 8u;
        mult[i] = kind == 0u ? 0 : (kind < 3u ? (1 << 30) : (int32_t)((1u << 30) + (rnd() >> 2)));
        shift[i] = kind < 3u ? rnd_range(30, 35) : (kind == 7u ? rnd_range(1, 62) : rnd_range(12, 46));
    }
    for (uint32_t k = 0; k < p->n_in; k++) {
        in[k] = (int16_t)(relu ? rnd_range(0, p->in_max) : rnd_range(-p->in_max, p->in_max));
    }
    p->weights = weights;
    p->bias = bias;
    p->mult = mult;
    p->shift = shift;
    /* signed outputs up to 10 bits: the index range of a tanh layer's table */
    const int32_t s_bits = (rnd() & 1u) ? a_bits : rnd_range(2, 10);
    p->out_min = relu ? 0 : -(1 << (s_bits - 1));
    p->out_max = relu ? (1 << a_bits) - 1 : (1 << (s_bits - 1)) - 1;
    p->layout_rows = 1;
    p->layout_group = 0;
    p->repacked = NULL;
    p->rq = NULL;
    p->acc_init = NULL;
    p->kernel_bits = 0;
    p->kernel_mode = 0;
}

/* One preparation of a layer and one run against the reference's answer. */
static int run_matches(const qhil_fc_params *p, uint32_t cap, uint32_t how, uint32_t *used)
{
    qhil_fc_params q = *p;
    *used = qhil_fc_opt_prepare(&q, (uint8_t *)copy_mem, cap, how);
    memset(out_opt, 0x55, sizeof out_opt);
    qhil_fc_opt(&q, in, out_opt, scratch);
    return memcmp(out_ref, out_opt, p->n_out * sizeof(int16_t)) == 0;
}

#define F32_CASES 300u
static float f_weights[MAX_OUT * MAX_IN];
static float f_bias[MAX_OUT];
static float f_in[MAX_IN];
static float f_ref[MAX_OUT];
static float f_opt[MAX_OUT];

static float rnd_float(void)
{
    return (float)rnd_range(-1000, 1000) / 1000.0f;
}

/* A random float32 layer through both kernels: outputs agree within float rounding of
 * the sum (fused vs separate multiply-adds, another order), scaled by its magnitude. */
static int f32_case_agrees(void)
{
    qhil_fc_f32_params p;
    p.n_in = (uint16_t)rnd_range(1, (int32_t)MAX_IN);
    p.n_out = (uint16_t)rnd_range(1, (int32_t)MAX_OUT);
    p.relu = (uint8_t)(rnd() & 1u);
    for (uint32_t i = 0; i < (uint32_t)p.n_out * p.n_in; i++) {
        f_weights[i] = rnd_float();
    }
    for (uint32_t i = 0; i < p.n_out; i++) {
        f_bias[i] = rnd_float();
    }
    for (uint32_t k = 0; k < p.n_in; k++) {
        f_in[k] = 4.0f * rnd_float();
    }
    p.weights = f_weights;
    p.bias = f_bias;
    qhil_fc_f32(&p, f_in, f_ref);
    memset(f_opt, 0x55, sizeof f_opt);
    qhil_fc_f32_opt(&p, f_in, f_opt);
    for (uint32_t i = 0; i < p.n_out; i++) {
        float magnitude = fabsf(f_bias[i]);
        for (uint32_t k = 0; k < p.n_in; k++) {
            magnitude += fabsf(f_weights[i * p.n_in + k] * f_in[k]);
        }
        if (!(fabsf(f_ref[i] - f_opt[i]) <= 4e-6f * magnitude + 1e-30f)) {
            return 0;
        }
    }
    return 1;
}

static void put_u32(uint8_t **at, uint32_t v)
{
    uint8_t digits[10];
    uint32_t n = 0;
    do {
        digits[n++] = (uint8_t)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (n > 0u) {
        *(*at)++ = digits[--n];
    }
}

static void put_str(uint8_t **at, const char *s)
{
    while (*s != '\0') {
        *(*at)++ = (uint8_t)*s++;
    }
}

int main(void)
{
    qhil_port_init();
    rng_state = 2463534242u;
    uint32_t runs = 0;
    uint32_t mismatches = 0;
    for (uint32_t c = 0; c < CASES; c++) {
        qhil_fc_params p;
        random_layer(&p);
        qhil_fc_ref(&p, in, out_ref, scratch);
        uint32_t used = 0;
        mismatches += run_matches(&p, sizeof copy_mem, 0, &used) ? 0u : 1u;
        mismatches += run_matches(&p, sizeof copy_mem, QHIL_PREPARE_COMPACT, &used) &&
                              used == 0u ? 0u : 1u;
        runs += 2u;
        if (p.w_bits == 8u || p.w_bits == 4u || p.w_bits == 2u) {
            /* the DSP loops' layouts: 4 x 4, 2 x 8, 2 x 16 */
            qhil_fc_params b;
            test_block_weights(&p, p.w_bits == 8u ? 4u : 2u, 32u / p.w_bits, blocked,
                               sizeof blocked, &b);
            mismatches += run_matches(&b, sizeof copy_mem, 0, &used) ? 0u : 1u;
            mismatches += run_matches(&b, sizeof copy_mem, QHIL_PREPARE_COMPACT, &used) &&
                                  used == 0u ? 0u : 1u;
            runs += 2u;
        }
        uint32_t cap = sizeof copy_mem;
        do {
            mismatches += run_matches(&p, cap, QHIL_PREPARE_WIDEN, &used) ? 0u : 1u;
            runs++;
            cap = used - 1u;
        } while (used != 0u);
    }
    uint32_t f32_mismatches = 0;
    for (uint32_t c = 0; c < F32_CASES; c++) {
        f32_mismatches += f32_case_agrees() ? 0u : 1u;
    }
    uint8_t line[120];
    uint8_t *at = line;
    put_str(&at, "qhil-kernels cases=");
    put_u32(&at, CASES);
    put_str(&at, " runs=");
    put_u32(&at, runs);
    put_str(&at, " mismatches=");
    put_u32(&at, mismatches);
    put_str(&at, " f32_cases=");
    put_u32(&at, F32_CASES);
    put_str(&at, " f32_mismatches=");
    put_u32(&at, f32_mismatches);
    put_str(&at, "\n");
    qhil_port_write(line, (uint32_t)(at - line));
    for (;;) {
        qhil_port_wait();
    }
}
