/*
 * Fully connected kernels. One contract, several implementations:
 *
 *   qhil_fc_ref     plain C99, any width 2..8: the executable form of
 *                   docs/quantization.md, built into every firmware and test.
 *   qhil_fc_opt     the optimized kernel of this build (src/nn/opt/), same signature
 *                   and results bit for bit; chosen per PlatformIO env by build_src_filter.
 *   qhil_fc_f32     float32 layer for the on-device float baseline.
 */
#ifndef QHIL_NN_H
#define QHIL_NN_H

#include <stdint.h>

#include "qhil_status.h"

/** Per-row requantization record made at load by the DSP kernel (qhil_fc_opt_dsp.c); the
 * bias is already in the sum it requantizes. */
typedef struct {
    int32_t mult;
    int32_t round; /**< added to the high word of the product */
    int32_t rsh;   /**< right shift of the high word */
    int32_t lsl;   /**< left shift of the accumulator, for shifts below 33 */
} qhil_fc_rq;

/** One integer fully connected layer, pointing into a validated model blob. */
typedef struct {
    uint16_t n_in;          /**< inputs, 1..1024 */
    uint16_t n_out;         /**< outputs (channels), 1..1024 */
    uint8_t w_bits;         /**< weight width, 2..8 */
    uint8_t layout_rows;    /**< R of a blocked layout (docs/model-format.md#layouts), else 1 */
    uint8_t layout_group;   /**< G of a blocked layout; 0 for rows */
    const uint8_t *weights; /**< packed codes in the layer's layout: docs/model-format.md */
    const int32_t *bias;    /**< [n_out], accumulator units */
    const int32_t *mult;    /**< [n_out], 0 or [2^30, 2^31-1] */
    const int32_t *shift;   /**< [n_out], 1..62 */
    int32_t out_min;        /**< 0 for ReLU layers, -2^(A-1) for the output layer */
    int32_t out_max;        /**< 2^A - 1 for ReLU layers, 2^(A-1) - 1 for the output layer */
    int32_t in_max;         /**< largest |input code| this layer can receive */
    int32_t in_min;         /**< smallest input code: 0 after a ReLU layer, else -in_max or less */
    const uint8_t *repacked; /**< kernel-private weights made by qhil_fc_opt_prepare, or NULL */
    const qhil_fc_rq *rq;    /**< kernel-private row records made by qhil_fc_opt_prepare, or NULL */
    const int32_t *acc_init; /**< kernel-private: the sums' starting values (bias), or NULL */
    uint8_t kernel_bits;     /**< code width of `repacked` (kernel-private) */
    uint8_t kernel_mode;     /**< how qhil_fc_opt runs the layer (kernel-private) */
    uint8_t tflite;          /**< 1: the tflite arithmetic (docs/quantization.md): `shift`
                                  holds TFLite's exponent, out_zero is added; run by
                                  qhil_fc_tflite_s8 or qhil_fc_ref only */
    int32_t out_zero;        /**< tflite: the output zero point */
} qhil_fc_params;

/**
 * out[i] = clamp(requantize(bias[i] + sum_k w[i][k] * in[k], mult[i], shift[i]), min, max)
 * (tflite layers: clamp(requantize_tflite(acc, mult[i], shift[i]) + out_zero, min, max),
 * which qhil_fc_ref and qhil_fc_tflite_s8 run, not qhil_fc_opt)
 *
 * @param[in]  p    layer parameters (validated by qhil_model_load)
 * @param[in]  in   [n_in] input codes, |in[k]| <= p->in_max
 * @param[out] out  [n_out] output codes; must not alias `in`
 * @param[in]  scratch  at least qhil_fc_scratch_size(p) bytes, 4-byte aligned
 */
void qhil_fc_ref(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch);
void qhil_fc_opt(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch);
/** tflite-arithmetic layers on every core: int8 rows in a plain loop (blocked layouts go
 * to qhil_fc_ref); bit for bit the reference's results. */
void qhil_fc_tflite_s8(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch);
/** The portable optimized C kernel; the DSP kernel falls back to it for other widths. */
void qhil_fc_opt_c(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch);

/** Scratch bytes qhil_fc_opt needs for this layer (the reference needs none). */
uint32_t qhil_fc_scratch_size(const qhil_fc_params *p);

/** Scratch words that cover qhil_fc_scratch_size for layers up to `w` wide. */
#if defined(__ARM_FEATURE_DSP)
#define QHIL_FC_SCRATCH_WORDS(w) (2u * (w) + 16u)
#else
#define QHIL_FC_SCRATCH_WORDS(w) (w)
#endif

/** How a layer is prepared at load (the LOAD_BEGIN flags of docs/protocol.md). */
#define QHIL_PREPARE_WIDEN 1u   /**< may copy the weights into a wider, faster form */
#define QHIL_PREPARE_COMPACT 2u /**< keeps nothing: runs on the blob's bytes alone */

/**
 * Load-time preparation of a validated layer for qhil_fc_opt: may use up to `cap` bytes
 * at `mem` (4-byte aligned, kept while the model is loaded). Weights are read where they
 * are stored; only with QHIL_PREPARE_WIDEN in `how` may a kernel copy them into a wider
 * or reordered form that runs faster, and with QHIL_PREPARE_COMPACT it keeps nothing
 * (no starting sums or requantization records: fewer bytes, more instructions).
 * @return bytes used; 0 when the layer needs nothing (p->rq is then NULL)
 */
uint32_t qhil_fc_opt_prepare(qhil_fc_params *p, uint8_t *mem, uint32_t cap, uint32_t how);

/** Name of the optimized variant compiled in: "ref", "c", "dsp", "mve". */
extern const char *const qhil_fc_opt_name;
/** Kernel variant id reported in HELLO: 0 reference, 1 optimized C, 2 DSP, 3 Helium. */
extern const uint8_t qhil_fc_opt_variant;

/** One float32 layer: out = W in + b, ReLU when `relu`. */
typedef struct {
    uint16_t n_in;
    uint16_t n_out;
    const float *weights; /**< [n_out][n_in] */
    const float *bias;    /**< [n_out] */
    uint8_t relu;
} qhil_fc_f32_params;

void qhil_fc_f32(const qhil_fc_f32_params *p, const float *in, float *out);

/**
 * A tanh hidden layer's activation, in place: x[i] = table[x[i] + offset]
 * (docs/quantization.md#tanh-hidden-layers). The layer's kernel clamped x to
 * [-offset, offset - 1], so every index lies in the table's 2 * offset entries.
 */
void qhil_act_table_s16(int16_t *x, uint32_t n, const int8_t *table, int32_t offset);
/** qhil_fc_f32 with fused multiply-adds (cores with an FPU; QHIL_F32_FPU builds). */
void qhil_fc_f32_opt(const qhil_fc_f32_params *p, const float *in, float *out);

#endif
