/*
 * The firmware loader's verdict on blob files, for comparing it with the host reader
 * (tests/test_fuzz.py): one line per file, "<qhil_model_error> [kind layers obs act]".
 */
#include <stdio.h>

#include "qhil_model.h"

int main(int argc, char **argv)
{
    static uint32_t buf[(65536u + 4u) / 4u]; /* 4-byte aligned, like the device's arena */
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            printf("-1\n");
            continue;
        }
        size_t n = fread(buf, 1, sizeof buf - 4u, f);
        fclose(f);
        qhil_model m;
        qhil_model_error e = qhil_model_load(&m, (const uint8_t *)buf, (uint32_t)n);
        if (e == QHIL_MODEL_OK) {
            printf("0 %u %u %u %u\n", (unsigned)m.kind, (unsigned)m.n_layers,
                   (unsigned)m.obs_dim, (unsigned)m.act_dim);
        } else {
            printf("%d\n", (int)e);
        }
    }
    return 0;
}
