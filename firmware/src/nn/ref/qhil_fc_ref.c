/* Reference fully connected kernel: the spec as a loop (docs/quantization.md). */
#include "qhil_nn.h"
#include "qhil_nn_support.h"

void qhil_fc_ref(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    (void)scratch;
    const uint32_t row_bytes = qhil_nn_row_bytes(p->n_in, p->w_bits);
    for (uint32_t i = 0; i < p->n_out; i++) {
        int32_t acc = p->bias[i];
        if (p->layout_group == 0u) { /* rows: the portable kernel's 5..7-bit path runs here */
            const uint8_t *row = p->weights + i * row_bytes;
            for (uint32_t k = 0; k < p->n_in; k++) {
                acc += qhil_nn_unpack_code(row, k, p->w_bits) * (int32_t)in[k];
            }
        } else {
            for (uint32_t k = 0; k < p->n_in; k++) {
                acc += qhil_fc_weight(p, i, k) * (int32_t)in[k];
            }
        }
        if (p->tflite) {
            int32_t q = qhil_nn_requantize_tflite(acc, p->mult[i], p->shift[i]) + p->out_zero;
            q = q < p->out_min ? p->out_min : q;
            out[i] = (int16_t)(q > p->out_max ? p->out_max : q);
        } else {
            out[i] = (int16_t)qhil_nn_requantize(acc, p->mult[i], p->shift[i], p->out_min,
                                                 p->out_max);
        }
    }
}
