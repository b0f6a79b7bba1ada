/* Table activation of tanh hidden layers: one load per output, no arithmetic. */
#include "qhil_nn.h"

void qhil_act_table_s16(int16_t *x, uint32_t n, const int8_t *table, int32_t offset)
{
    for (uint32_t i = 0; i < n; i++) {
        x[i] = table[x[i] + offset];
    }
}
