/*
 * libFuzzer entry point for the model loader: the input is a blob, loaded twice - as it
 * is, and with its total_size field and CRC repaired so that mutations reach every field
 * rule behind the CRC. The loader must accept a blob or reject it with one of the
 * documented reasons; an accepted model must then run (both kernels, extreme and random
 * inputs) without touching memory it does not own, which AddressSanitizer and UBSan check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qhil_crc32.h"
#include "qhil_model.h"

#define ARENA_BYTES 65536u

static uint32_t scratch[ARENA_BYTES / 4u];
static uint64_t blobs_total, blobs_accepted;

static void report(void)
{
    fprintf(stderr, "qhil-fuzz: %llu blobs, %llu accepted\n", (unsigned long long)blobs_total,
            (unsigned long long)blobs_accepted);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    atexit(report);
    return 0;
}

static void run_model(qhil_model *m, const uint8_t *data, size_t size)
{
    static int16_t in[QHIL_MAX_WIDTH], out[QHIL_MAX_WIDTH];
    static float fin[QHIL_MAX_WIDTH], fout[QHIL_MAX_WIDTH];
    for (uint32_t pass = 0; pass < 3u; pass++) {
        for (uint32_t k = 0; k < m->obs_dim; k++) {
            int32_t v = pass == 0u ? m->in_max : pass == 1u ? -m->in_max
                        : (int32_t)data[k % size] - 128;
            in[k] = (int16_t)(v > m->in_max ? m->in_max : v < -m->in_max ? -m->in_max : v);
            fin[k] = (float)v;
        }
        for (int ref = 0; ref < 2; ref++) {
            qhil_model_force_reference(ref);
            qhil_status s = m->kind == QHIL_KIND_F32 ? qhil_model_infer_f32(m, fin, fout)
                                                      : qhil_model_infer(m, in, out);
            if (s != QHIL_OK) {
                abort(); /* a validated model and in-range inputs must run */
            }
        }
        qhil_model_force_reference(0);
    }
}

static void load_one(const uint8_t *data, size_t size, int repair)
{
    /* Exactly `size` bytes in a heap buffer of that size: any read past the blob is an
     * ASan report, which a static arena would hide. The loader wants 4-byte alignment,
     * which malloc gives. */
    uint8_t *blob = malloc(size ? size : 1u);
    if (blob == NULL) {
        return;
    }
    memcpy(blob, data, size);
    if (repair) {
        for (uint32_t b = 0; b < 4u; b++) {
            blob[8u + b] = (uint8_t)(size >> (8u * b));
        }
        uint32_t crc = qhil_crc32(0, blob, (uint32_t)size - 4u);
        for (uint32_t b = 0; b < 4u; b++) {
            blob[size - 4u + b] = (uint8_t)(crc >> (8u * b));
        }
    }
    qhil_model m;
    qhil_model_error e = qhil_model_load(&m, blob, (uint32_t)size);
    blobs_total++;
    if (e == QHIL_MODEL_OK) {
        blobs_accepted++;
        qhil_model_prepare(&m, (uint8_t *)scratch, sizeof scratch, (uint32_t)(size % 3u));
        run_model(&m, data, size);
    } else if (e > QHIL_MODEL_ERR_KIND) {
        abort(); /* every rejection names a documented reason */
    }
    free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > ARENA_BYTES) {
        return -1;
    }
    load_one(data, size, 0);
    if (size >= 68u) {
        load_one(data, size, 1);
    }
    return 0;
}
