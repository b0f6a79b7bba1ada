/*
 * Helium (MVE) kernel for the Cortex-M55 (ARMv8.1-M with the M-profile Vector Extension).
 *
 * Weights are read where the blob keeps them, in its row layout: no copy at load. Four
 * rows at a time in a tail-predicated loop that reads nothing past a row
 * (qhil_mat4_mve.inc). How a layer runs is decided once, at load, from its weight width
 * and the range of its inputs (in_min, in_max), so its cost does not depend on the data:
 *
 *   int8 weights, inputs in [-128, 127]   byte lanes, the inputs narrowed to int8
 *   int8 weights, inputs in [0, 255]      byte lanes on x - 128 (a ReLU layer's 8-bit
 *                                         activations), the sums started at
 *                                         bias + 128 * sum_k w[i][k], made at load
 *                                         (4 bytes a row; without room, or compact:
 *                                         halfword lanes)
 *   int8 weights, other inputs            halfword lanes on the int16 codes
 *   4- and 2-bit weights                  byte lanes, the codes unpacked in registers
 *                                         (qhil_mat_sub8_mve.S), the inputs regrouped
 *   3-bit weights                         byte lanes, each code fetched by two byte
 *                                         gathers and per-lane shifts
 *     (sub-byte rows take inputs that fit a signed byte, or a ReLU's 8-bit activations
 *     less 128 from starting sums made at load, as int8 rows do)
 *   anything else, or a blocked layout    the portable C kernel
 *
 * The rows left over (n_out mod 4) run one at a time in the same lanes. Then the sums
 * are requantized four at a time in 32-bit lanes (qhil_requant_mve.S): 13 instructions
 * for four rows when every shift of the layer exceeds 32 (decided at load), 20 for any.
 */
#include <arm_mve.h>
#include <stddef.h>

#include "qhil_nn.h"
#include "qhil_nn_support.h"

#if !defined(__ARM_FEATURE_MVE)
#error "qhil_fc_opt_mve.c needs the M-profile Vector Extension (-mcpu=cortex-m55)"
#endif

const char *const qhil_fc_opt_name = "mve";
const uint8_t qhil_fc_opt_variant = 3;

/* qhil_fc_run_mve.S: one layer each, by the lanes its inputs take */
typedef void run_fn(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch);
run_fn qhil_run_s16_mve, qhil_run_s8_mve, qhil_run_s8_short_mve, qhil_run_u8_mve,
    qhil_run_s4_mve, qhil_run_s2_mve, qhil_run_s3_mve, qhil_run_s4u_mve, qhil_run_s2u_mve,
    qhil_run_s3u_mve;
void qhil_regroup_mve(const int16_t *in, uint32_t n, uint32_t lg, int8_t *bytes);
void qhil_regroup128_mve(const int16_t *in, uint32_t n, uint32_t lg, int8_t *bytes);

/* The assembly reads the layer's fields at these offsets (qhil_mat_mve.inc; C99 has no
 * static_assert). */
typedef char qhil_fc_offsets_check[(offsetof(qhil_fc_params, n_in) == 0u &&
                                    offsetof(qhil_fc_params, n_out) == 2u &&
                                    offsetof(qhil_fc_params, w_bits) == 4u &&
                                    offsetof(qhil_fc_params, weights) == 8u &&
                                    offsetof(qhil_fc_params, bias) == 12u &&
                                    offsetof(qhil_fc_params, mult) == 16u &&
                                    offsetof(qhil_fc_params, shift) == 20u &&
                                    offsetof(qhil_fc_params, out_min) == 24u &&
                                    offsetof(qhil_fc_params, out_max) == 28u &&
                                    offsetof(qhil_fc_params, acc_init) == 48u &&
                                    offsetof(qhil_fc_params, kernel_mode) == 53u) ? 1 : -1];

/* Input bytes a layer's lanes take: the regrouped low-bit inputs fill whole turns. */
static uint32_t input_bytes(uint32_t n_in)
{
    return 64u * ((n_in + 63u) / 64u);
}

uint32_t qhil_fc_scratch_size(const qhil_fc_params *p)
{
    return 4u * ((p->n_out + 3u) & ~3u) + input_bytes(p->n_in);
}

/* kernel_mode: RUNS' index << 1, bit 0 set when every shift of the layer exceeds 32 */
enum { RUN_C, RUN_S16, RUN_S8, RUN_S8_SHORT, RUN_U8, RUN_W4, RUN_W2, RUN_W3, RUN_W4U, RUN_W2U,
       RUN_W3U };
#define RUN_FAST_REQUANT 1u

static run_fn *const RUNS[] = {NULL, qhil_run_s16_mve, qhil_run_s8_mve, qhil_run_s8_short_mve,
                               qhil_run_u8_mve, qhil_run_s4_mve, qhil_run_s2_mve,
                               qhil_run_s3_mve, qhil_run_s4u_mve, qhil_run_s2u_mve,
                               qhil_run_s3u_mve};

static int fits_s8(const qhil_fc_params *p)
{
    return p->in_min >= -128 && p->in_max <= 127;
}

/*
 * Starting sums for inputs in [0, 255], which the loops take as x - 128 in byte lanes:
 * bias[i] + 128 * sum_k w[i][k], into mem (4 bytes a row). 0 without room.
 */
static int offset_starts(qhil_fc_params *p, uint8_t *mem, uint32_t cap)
{
    if (p->in_min < 0 || p->in_max > 255 || cap < 4u * p->n_out) {
        return 0;
    }
    int32_t *init = (int32_t *)(void *)mem;
    for (uint32_t i = 0; i < p->n_out; i++) {
        int32_t sum = 0;
        for (uint32_t k = 0; k < p->n_in; k++) {
            sum += qhil_fc_weight(p, i, k);
        }
        /* wraps only where the final sum would not fit, which load refuses */
        init[i] = (int32_t)((uint32_t)p->bias[i] + 128u * (uint32_t)sum);
    }
    p->acc_init = init;
    return 1;
}

uint32_t qhil_fc_opt_prepare(qhil_fc_params *p, uint8_t *mem, uint32_t cap, uint32_t how)
{
    p->repacked = NULL;
    p->rq = NULL;
    p->acc_init = p->bias;
    p->kernel_bits = 0;
    uint32_t mode = RUN_C;
    if (p->layout_group == 0u) {
        /* the lanes of each width: inputs that fit a signed byte, else a ReLU's 8-bit
         * activations less 128 (with starting sums), else (int8 only) halfwords */
        static const uint8_t signed_mode[9] = {0, 0, RUN_W2, RUN_W3, RUN_W4, 0, 0, 0, RUN_S8};
        static const uint8_t offset_mode[9] = {0, 0, RUN_W2U, RUN_W3U, RUN_W4U, 0, 0, 0, RUN_U8};
        const uint32_t w = p->w_bits;
        if (signed_mode[w] != 0u && fits_s8(p)) {
            mode = (w == 8u && p->n_in <= 16u) ? RUN_S8_SHORT : signed_mode[w];
        } else if (offset_mode[w] != 0u && (how & QHIL_PREPARE_COMPACT) == 0u &&
                   offset_starts(p, mem, cap)) {
            mode = offset_mode[w];
        } else if (w == 8u) {
            mode = RUN_S16;
        }
    }
    uint32_t fast = RUN_FAST_REQUANT;
    for (uint32_t i = 0; i < p->n_out; i++) {
        if (p->shift[i] <= 32) {
            fast = 0;
        }
    }
    p->kernel_mode = (uint8_t)(mode << 1 | fast);
    return p->acc_init != p->bias ? 4u * p->n_out : 0u;
}

/*
 * The inputs regrouped for the sub-byte loops: 2^lg groups (2 at 4 bits, 4 at 2 bits) of
 * 16 bytes a turn; input k = 16 g t + g j + r (g = 2^lg) goes to byte 16 (g t + r) + j.
 * Whole runs of 8 g inputs de-interleave in one VLD2/VLD4; the last turn is zeroed first
 * (inputs past n read as 0), then takes the inputs left one at a time.
 */
__attribute__((always_inline)) static inline void regroup(const int16_t *in, uint32_t n,
                                                            uint32_t lg, int16_t offset,
                                                            int8_t *bytes)
{
    const uint32_t g = 1u << lg;
    const uint32_t per_turn = 16u << lg;
    const uint32_t last = (n - 1u) / per_turn * per_turn;
    const int16x8_t off = vdupq_n_s16(offset);
    for (uint32_t r = 0; r < g; r++) {
        vstrbq_s8(bytes + last + 16u * r, vdupq_n_s8(0));
    }
    uint32_t k = 0;
    for (; k + 8u * g <= n; k += 8u * g) {
        int8_t *dst = bytes + (k & ~(per_turn - 1u)) + ((k & (per_turn - 1u)) >> lg);
        if (lg == 1u) {
            int16x8x2_t v = vld2q_s16(in + k);
            if (offset != 0) {
                v.val[0] = vsubq_s16(v.val[0], off);
                v.val[1] = vsubq_s16(v.val[1], off);
            }
            vstrbq_s16(dst, v.val[0]);
            vstrbq_s16(dst + 16, v.val[1]);
        } else {
            int16x8x4_t v = vld4q_s16(in + k);
            if (offset != 0) {
                for (uint32_t r = 0; r < 4u; r++) {
                    v.val[r] = vsubq_s16(v.val[r], off);
                }
            }
            vstrbq_s16(dst, v.val[0]);
            vstrbq_s16(dst + 16, v.val[1]);
            vstrbq_s16(dst + 32, v.val[2]);
            vstrbq_s16(dst + 48, v.val[3]);
        }
    }
    for (; k < n; k++) {
        bytes[(k & ~(per_turn - 1u)) + 16u * (k & (g - 1u)) + ((k & (per_turn - 1u)) >> lg)] =
            (int8_t)(in[k] - offset);
    }
}

void qhil_regroup_mve(const int16_t *in, uint32_t n, uint32_t lg, int8_t *bytes)
{
    regroup(in, n, lg, 0, bytes);
}

/* For a ReLU's 8-bit activations: x - 128 (the codes' padding stays 0: its weights are 0). */
void qhil_regroup128_mve(const int16_t *in, uint32_t n, uint32_t lg, int8_t *bytes)
{
    regroup(in, n, lg, 128, bytes);
}

void qhil_fc_opt(const qhil_fc_params *p, const int16_t *in, int16_t *out, void *scratch)
{
    run_fn *const run = RUNS[p->kernel_mode >> 1];
    if (run == NULL) {
        qhil_fc_opt_c(p, in, out, scratch);
        return;
    }
    run(p, in, out, scratch);
}
