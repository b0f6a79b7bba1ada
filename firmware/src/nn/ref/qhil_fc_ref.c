/* Reference fully connected kernel: the spec as a loop (docs/quantization.md). */
#include "qhil_nn.h"
#include "qhil_nn_support.h"

void qhil_fc_ref(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    (void)scratch;
    for (uint32_t i = 0; i < p->n_out; i++) {
        int32_t acc = p->bias[i];
        for (uint32_t k = 0; k < p->n_in; k++) {
            acc += qhil_fc_weight(p, i, k) * (int32_t)in[k];
        }
        out[i] = (int16_t)qhil_nn_requantize(acc, p->mult[i], p->shift[i], p->out_min,
                                             p->out_max);
    }
}
