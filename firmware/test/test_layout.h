/* Blocked weight layouts for the firmware's C test programs (docs/model-format.md#layouts). */
#ifndef QHIL_TEST_LAYOUT_H
#define QHIL_TEST_LAYOUT_H

#include <stdint.h>
#include <string.h>

#include "qhil_nn.h"
#include "qhil_nn_support.h"

/**
 * `*out` = the layer `rows` (weights in rows) with its weights rewritten into `buf` in a
 * blocked layout of `r` rows by `g` codes, padding codes zero. `buf` holds at least
 * ceil(n_out / r) * r * ceil(n_in / g) * g codes.
 */
static void test_block_weights(const qhil_fc_params *rows, uint32_t r, uint32_t g, uint8_t *buf,
                               uint32_t buf_bytes, qhil_fc_params *out)
{
    const uint32_t bits = rows->w_bits;
    const uint32_t groups = (rows->n_in + g - 1u) / g;
    memset(buf, 0, buf_bytes);
    for (uint32_t i = 0; i < rows->n_out; i++) {
        for (uint32_t k = 0; k < rows->n_in; k++) {
            const uint32_t v = (uint32_t)qhil_fc_weight(rows, i, k) & ((1u << bits) - 1u);
            const uint32_t t = ((i / r) * groups + k / g) * r * g + (i % r) * g + k % g;
            const uint32_t bit = t * bits;
            buf[bit / 8u] |= (uint8_t)(v << (bit % 8u));
            if (bit % 8u + bits > 8u) {
                buf[bit / 8u + 1u] |= (uint8_t)(v >> (8u - bit % 8u));
            }
        }
    }
    *out = *rows;
    out->layout_rows = (uint8_t)r;
    out->layout_group = (uint8_t)g;
    out->weights = buf;
}

#endif
