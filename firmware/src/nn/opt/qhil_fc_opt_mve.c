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
 *                                         (4 bytes a row; without room: halfword lanes)
 *   int8 weights, other inputs            halfword lanes on the int16 codes
 *   4- and 2-bit weights, inputs in       byte lanes, the codes unpacked in registers
 *     [-128, 127]                         (qhil_mat4_sub8_mve.S), the inputs regrouped
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
    qhil_run_s4_mve, qhil_run_s2_mve;
void qhil_regroup_mve(const int16_t *in, uint32_t n, uint32_t lg, int8_t *bytes);

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
enum { RUN_C, RUN_S16, RUN_S8, RUN_S8_SHORT, RUN_U8, RUN_W4, RUN_W2 };
#define RUN_FAST_REQUANT 1u

static run_fn *const RUNS[] = {NULL, qhil_run_s16_mve, qhil_run_s8_mve, qhil_run_s8_short_mve,
                               qhil_run_u8_mve, qhil_run_s4_mve, qhil_run_s2_mve};

static int fits_s8(const qhil_fc_params *p)
{
    return p->in_min >= -128 && p->in_max <= 127;
}

uint32_t qhil_fc_opt_prepare(qhil_fc_params *p, uint8_t *mem, uint32_t cap, int widen)
{
    (void)widen;
    p->repacked = NULL;
    p->rq = NULL;
    p->acc_init = p->bias;
    p->kernel_bits = 0;
    uint32_t used = 0;
    uint32_t mode = RUN_C;
    if (p->layout_group == 0u && p->w_bits == 8u) {
        if (fits_s8(p)) {
            mode = p->n_in <= 16u ? RUN_S8_SHORT : RUN_S8;
        } else if (p->in_min >= 0 && p->in_max <= 255 && cap >= 4u * p->n_out) {
            int32_t *init = (int32_t *)(void *)mem;
            for (uint32_t i = 0; i < p->n_out; i++) {
                const int8_t *w = (const int8_t *)p->weights + i * p->n_in;
                int32_t sum = 0;
                for (uint32_t k = 0; k < p->n_in; k++) {
                    sum += w[k];
                }
                /* wraps only where the final sum would not fit, which load refuses */
                init[i] = (int32_t)((uint32_t)p->bias[i] + 128u * (uint32_t)sum);
            }
            p->acc_init = init;
            used = 4u * p->n_out;
            mode = RUN_U8;
        } else {
            mode = RUN_S16;
        }
    } else if (p->layout_group == 0u && (p->w_bits == 4u || p->w_bits == 2u) && fits_s8(p)) {
        mode = p->w_bits == 4u ? RUN_W4 : RUN_W2;
    }
    uint32_t fast = RUN_FAST_REQUANT;
    for (uint32_t i = 0; i < p->n_out; i++) {
        if (p->shift[i] <= 32) {
            fast = 0;
        }
    }
    p->kernel_mode = (uint8_t)(mode << 1 | fast);
    return used;
}

/*
 * The inputs regrouped for the sub-byte loops: 2^lg groups (2 at 4 bits, 4 at 2 bits) of
 * 16 bytes a turn; input k = 16 g t + g j + r (g = 2^lg) goes to byte 16 (g t + r) + j.
 * Whole runs of 8 g inputs de-interleave in one VLD2/VLD4; the last turn is zeroed first
 * (inputs past n read as 0), then takes the inputs left one at a time.
 */
void qhil_regroup_mve(const int16_t *in, uint32_t n, uint32_t lg, int8_t *bytes)
{
    const uint32_t g = 1u << lg;
    const uint32_t per_turn = 16u << lg;
    const uint32_t last = (n - 1u) / per_turn * per_turn;
    for (uint32_t r = 0; r < g; r++) {
        vstrbq_s8(bytes + last + 16u * r, vdupq_n_s8(0));
    }
    uint32_t k = 0;
    for (; k + 8u * g <= n; k += 8u * g) {
        int8_t *dst = bytes + (k & ~(per_turn - 1u)) + ((k & (per_turn - 1u)) >> lg);
        if (lg == 1u) {
            const int16x8x2_t v = vld2q_s16(in + k);
            vstrbq_s16(dst, v.val[0]);
            vstrbq_s16(dst + 16, v.val[1]);
        } else {
            const int16x8x4_t v = vld4q_s16(in + k);
            vstrbq_s16(dst, v.val[0]);
            vstrbq_s16(dst + 16, v.val[1]);
            vstrbq_s16(dst + 32, v.val[2]);
            vstrbq_s16(dst + 48, v.val[3]);
        }
    }
    for (; k < n; k++) {
        bytes[(k & ~(per_turn - 1u)) + 16u * (k & (g - 1u)) + ((k & (per_turn - 1u)) >> lg)] =
            (int8_t)in[k];
    }
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
