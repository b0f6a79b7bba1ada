/* A validated model in the arena: docs/model-format.md. */
#ifndef QHIL_MODEL_H
#define QHIL_MODEL_H

#include <stdint.h>

#include "qhil_nn.h"
#include "qhil_status.h"

#define QHIL_MAX_LAYERS 8u
#define QHIL_MODEL_FORMAT_MAX 4u /* newest docs/model-format.md version the loader reads */
#ifndef QHIL_MAX_WIDTH
#define QHIL_MAX_WIDTH 256u /* widest layer a board accepts; set per board */
#endif

enum { QHIL_KIND_INT = 0, QHIL_KIND_F32 = 1 };
enum { QHIL_OUTPUT_TANH = 0, QHIL_OUTPUT_LINEAR = 1 };
/* A layer record's activation byte (version 2 allows all three on hidden layers). */
enum { QHIL_ACT_RELU = 0, QHIL_ACT_NONE = 1, QHIL_ACT_TANH = 2 };
#define QHIL_LUT_BITS_MIN 2u
#define QHIL_LUT_BITS_MAX 10u

typedef struct {
    uint8_t kind;
    uint8_t n_layers;
    uint8_t in_bits;
    uint8_t output;
    uint16_t obs_dim;
    uint16_t act_dim;
    uint32_t model_id; /**< the blob's CRC32 */
    uint32_t macs;
    int32_t in_max; /**< largest input code: 2^(in_bits-1) - 1 (tflite: 127) */
    int32_t in_min; /**< smallest input code: -in_max (tflite: -128) */
    qhil_fc_params layers[QHIL_MAX_LAYERS];
    qhil_fc_f32_params f32_layers[QHIL_MAX_LAYERS];
    const int16_t *lut; /**< tanh outputs: 2^A entries, or the odd half's 2^(A-1)+1; else NULL */
    int32_t lut_offset; /**< 2^(A-1) */
    uint8_t lut_half;   /**< the blob stores the output table's odd half (version 4 flags) */
    const int8_t *act_tables[QHIL_MAX_LAYERS]; /**< a tanh hidden layer's table, else NULL */
    int32_t act_offsets[QHIL_MAX_LAYERS];      /**< 2^(K-1) for a table of 2^K entries */
    uint8_t f32_tanh[QHIL_MAX_LAYERS];         /**< float32 hidden layer with tanhf */
} qhil_model;

/**
 * Validate `size` bytes at `blob` (4-byte aligned, must stay alive) and fill `m`.
 * Every rule of docs/model-format.md is checked; on failure `m` is left unusable.
 */
qhil_model_error qhil_model_load(qhil_model *m, const uint8_t *blob, uint32_t size);

/**
 * Give the optimized kernels `cap` bytes at `mem` (4-byte aligned) for load-time
 * preparation of the model's layers, as `how` (QHIL_PREPARE_* flags, qhil_fc_opt_prepare)
 * says. Returns the bytes used.
 */
uint32_t qhil_model_prepare(qhil_model *m, uint8_t *mem, uint32_t cap, uint32_t how);

/** Integer inference: `in` [obs_dim] codes -> `out` [act_dim] action codes. */
qhil_status qhil_model_infer(const qhil_model *m, const int16_t *in, int16_t *out);

/** A free-running cost counter (the port's), read around each layer. */
typedef uint32_t (*qhil_clock_fn)(void);

/**
 * qhil_model_infer, and each layer's cost: `layer_costs[l]` = `clock()` after layer `l`
 * minus before it (the kernel and a tanh hidden layer's table; the output table lookup is
 * in no layer). With a NULL
 * clock nothing is timed and `layer_costs` is not touched.
 */
qhil_status qhil_model_infer_layers(const qhil_model *m, const int16_t *in, int16_t *out,
                                    qhil_clock_fn clock, uint32_t *layer_costs);

/** Float32 inference (float32 models): normalized observation -> policy output. */
qhil_status qhil_model_infer_f32(const qhil_model *m, const float *in, float *out);

/* The header's arithmetic byte (version 4). */
enum { QHIL_ARITH_QHIL = 0, QHIL_ARITH_TFLITE = 1 };
/** Header byte 18 (version 4): the output tanh table is stored as its odd half. */
#define QHIL_FLAG_HALF_TABLE 0x01u

/** Use the reference kernel for every layer (tests compare it with the optimized one). */
void qhil_model_force_reference(int enable);

#endif
