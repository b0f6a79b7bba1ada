/*
 * Reference vs optimized kernel on random layers of every width: must agree bit for bit.
 * Built and run by tests/test_firmware_kernels.py with the host compiler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qhil_nn.h"
#include "qhil_nn_support.h"
#include "test_layout.h"
#include "test_rng.h"

int main(int argc, char **argv)
{
    int cases = argc > 1 ? atoi(argv[1]) : 2000;
    static uint8_t weights[256 * 256];
    static uint8_t blocked[264 * 264];
    static int32_t bias[256], mult[256], shift[256];
    static int16_t in[256], out_ref[256], out_opt[256];
    static uint32_t scratch[1024];
    int failures = 0;
    for (int c = 0; c < cases; c++) {
        qhil_fc_params p;
        memset(&p, 0, sizeof p);
        p.layout_rows = 1;
        p.n_in = (uint16_t)rnd_range(1, 200);
        p.n_out = (uint16_t)rnd_range(1, 64);
        p.w_bits = (uint8_t)rnd_range(2, 8);
        int a_bits = rnd_range(2, 8);
        int relu = rnd() & 1u;
        p.in_max = (rnd() & 1u) ? (1 << a_bits) - 1 : rnd_range(1, 32767);
        p.in_min = relu ? 0 : -p.in_max;
        uint32_t row = qhil_nn_row_bytes(p.n_in, p.w_bits);
        memset(weights, 0, sizeof weights);
        int32_t lim = (1 << (p.w_bits - 1)) - 1;
        for (uint32_t i = 0; i < p.n_out; i++) {
            for (uint32_t k = 0; k < p.n_in; k++) {
                uint32_t v = (uint32_t)rnd_range(-lim, lim) & ((1u << p.w_bits) - 1u);
                uint32_t bit = k * p.w_bits;
                uint8_t *r = weights + i * row;
                r[bit / 8] |= (uint8_t)(v << (bit % 8));
                if (bit % 8 + p.w_bits > 8) {
                    r[bit / 8 + 1] |= (uint8_t)(v >> (8 - bit % 8));
                }
            }
            bias[i] = rnd_range(-100000, 100000);
            mult[i] = (rnd() % 20u == 0u) ? 0 : (int32_t)((1u << 30) + (rnd() >> 2));
            shift[i] = rnd_range(10, 40);
        }
        for (uint32_t k = 0; k < p.n_in; k++) {
            in[k] = (int16_t)(relu ? rnd_range(0, p.in_max) : rnd_range(-p.in_max, p.in_max));
        }
        p.weights = weights;
        p.bias = bias;
        p.mult = mult;
        p.shift = shift;
        /* signed outputs up to 10 bits: the index range of a tanh layer's table */
        const int32_t s_bits = (rnd() & 1u) ? a_bits : rnd_range(2, 10);
        p.out_min = relu ? 0 : -(1 << (s_bits - 1));
        p.out_max = relu ? (1 << a_bits) - 1 : (1 << (s_bits - 1)) - 1;
        qhil_fc_ref(&p, in, out_ref, scratch);
        if (c % 4 == 3) { /* a blocked layout: every kernel reads it through qhil_fc_weight */
            const uint32_t g = 1u << rnd_range(2, 5);
            if (g * p.w_bits % 32u == 0u) {
                qhil_fc_params b;
                test_block_weights(&p, 1u << rnd_range(0, 3), g, blocked, sizeof blocked, &b);
                p = b;
            }
        }
        qhil_fc_opt(&p, in, out_opt, scratch);
        if (memcmp(out_ref, out_opt, p.n_out * sizeof(int16_t)) != 0) {
            if (failures++ < 5) {
                printf("MISMATCH case %d: n_in=%u n_out=%u w_bits=%u\n", c, p.n_in, p.n_out,
                       p.w_bits);
            }
        }
    }
    /* tflite layers: the int8 row kernel against the reference, with zero points, clamps,
     * positive exponents (within the accumulator bound) and ties of the second rounding */
    for (int c = 0; c < cases; c++) {
        qhil_fc_params p;
        memset(&p, 0, sizeof p);
        p.layout_rows = 1;
        p.tflite = 1;
        p.n_in = (uint16_t)rnd_range(1, 200);
        p.n_out = (uint16_t)rnd_range(1, 64);
        p.w_bits = 8;
        p.in_max = 128;
        p.in_min = -128;
        const int left = (rnd() & 3u) == 0u;
        for (uint32_t i = 0; i < p.n_out; i++) {
            for (uint32_t k = 0; k < p.n_in; k++) {
                const int32_t lim = left ? 3 : 127;
                weights[i * p.n_in + k] = (uint8_t)(int8_t)rnd_range(-lim, lim);
            }
            bias[i] = rnd_range(-20000, 20000);
            mult[i] = (rnd() % 9u == 0u) ? (1 << 30) : (int32_t)((1u << 30) + (rnd() >> 2));
            shift[i] = left ? rnd_range(0, 4) : rnd_range(-31, -1);
        }
        for (uint32_t k = 0; k < p.n_in; k++) {
            in[k] = (int16_t)rnd_range(-128, 127);
        }
        p.weights = weights;
        p.bias = bias;
        p.mult = mult;
        p.shift = shift;
        p.out_zero = rnd_range(-128, 127);
        p.out_min = (rnd() & 1u) ? -128 : p.out_zero;
        p.out_max = (rnd() & 1u) ? 127 : rnd_range(p.out_min, 127);
        qhil_fc_ref(&p, in, out_ref, scratch);
        qhil_fc_tflite_s8(&p, in, out_opt, scratch);
        if (memcmp(out_ref, out_opt, p.n_out * sizeof(int16_t)) != 0) {
            if (failures++ < 5) {
                printf("TFLITE MISMATCH case %d: n_in=%u n_out=%u\n", c, p.n_in, p.n_out);
            }
        }
    }
    /* The fast requantization against the plain one, including ties and both signs. */
    for (int c = 0; c < cases * 200; c++) {
        int32_t acc = (int32_t)rnd();
        if (c % 7 == 0) {
            acc = (int32_t)(rnd() % 2001u) - 1000;
        }
        int32_t mult = (c % 11 == 0) ? 0 : (int32_t)((1u << 30) + (rnd() >> 2));
        int32_t shift = rnd_range(1, 62);
        if (c % 13 == 0 && shift > 1) {
            acc = (int32_t)(1 << (shift > 31 ? 30 : shift - 1)); /* near a tie */
            mult = 1 << 30;
        }
        int32_t lo = -(1 << 20);
        int32_t hi = (1 << 20) - 1;
        int32_t a = qhil_nn_requantize(acc, mult, shift, lo, hi);
        int32_t b = qhil_nn_requantize_fast(acc, mult, shift, lo, hi);
        if (a != b) {
            if (failures++ < 10) {
                printf("REQUANT MISMATCH acc=%ld mult=%ld shift=%ld: %ld vs %ld\n", (long)acc,
                       (long)mult, (long)shift, (long)a, (long)b);
            }
        }
        /* the Cortex-M0's high word (16x16 products) against the 64-bit one, any acc,
         * every multiplier (0, tie-prone 2^30, the top of the range) */
        if (c % 17 == 0) {
            acc = (int32_t)0x80000000u + (int32_t)(rnd() % 3u); /* INT32_MIN and near it */
        }
        const int32_t m = (c % 19 == 0) ? INT32_MAX : mult;
        const int64_t x = (int64_t)acc * (int64_t)m - (acc < 0 ? 1 : 0);
        if (qhil_nn_hi32_minus_neg(acc, m) != (int32_t)(x >> 32) ||
            qhil_nn_mulhi(acc, m) != (int32_t)(((int64_t)acc * m) >> 32)) {
            if (failures++ < 10) {
                printf("MULHI MISMATCH acc=%ld mult=%ld\n", (long)acc, (long)m);
            }
        }
    }
    printf("%d cases, %d mismatches, optimized kernel '%s'\n", cases, failures,
           qhil_fc_opt_name);
    return failures != 0;
}
