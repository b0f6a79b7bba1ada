/*
 * The tflite arithmetic's int8 layer (docs/quantization.md#the-tflite-arithmetic), for
 * every core: the reference's sums in plain int8 rows, four inputs a step, then TFLM's
 * requantization, zero point and clamp. Weights in a blocked layout take the reference
 * kernel, which reads any layout; its results are the same bit for bit
 * (test/test_kernels.c compares the two).
 */
#include "qhil_nn.h"
#include "qhil_nn_support.h"

void qhil_fc_tflite_s8(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    if (p->layout_group != 0u || p->w_bits != 8u) {
        qhil_fc_ref(p, in, out, scratch);
        return;
    }
    const uint32_t n = p->n_in;
    const uint32_t n4 = n & ~3u;
    const int8_t *w = (const int8_t *)(const void *)p->weights;
    for (uint32_t i = 0; i < p->n_out; i++, w += n) {
        int32_t acc = p->bias[i];
        uint32_t k = 0;
        for (; k < n4; k += 4u) {
            acc += w[k] * in[k] + w[k + 1u] * in[k + 1u] + w[k + 2u] * in[k + 2u] +
                   w[k + 3u] * in[k + 3u];
        }
        for (; k < n; k++) {
            acc += w[k] * in[k];
        }
        int32_t q = qhil_nn_requantize_tflite(acc, p->mult[i], p->shift[i]) + p->out_zero;
        q = q < p->out_min ? p->out_min : q;
        out[i] = (int16_t)(q > p->out_max ? p->out_max : q);
    }
}
