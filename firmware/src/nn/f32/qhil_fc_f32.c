/* Float32 fully connected layer: the on-device float baseline (device-f32). */
#include "qhil_nn.h"

void qhil_fc_f32(const qhil_fc_f32_params *p, const float *in, float *out)
{
    const float *w = p->weights;
    for (uint32_t i = 0; i < p->n_out; i++, w += p->n_in) {
        float acc = p->bias[i];
        for (uint32_t k = 0; k < p->n_in; k++) {
            acc += w[k] * in[k];
        }
        out[i] = (p->relu && acc < 0.0f) ? 0.0f : acc;
    }
}
