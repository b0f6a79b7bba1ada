/*
 * void qhil_fc_f32_opt(const qhil_fc_f32_params *p, const float *in, float *out)
 *
 * The float32 layer with fused multiply-adds (FPv4-SP and later: Cortex-M4F, M7, M33F,
 * M55), the optimized twin of qhil_fc_f32 (src/nn/f32/). Rows go in pairs, so each block
 * of 8 inputs is loaded once for two rows: one VLDM of 8 inputs, four VLDMs of 4 weights,
 * 16 VFMAs (23 instructions per 16 MACs with the loop); inputs past the last block one at
 * a time; an odd last row alone. ReLU on hidden layers. Only s0-s15 are used, so no FPU
 * register is stacked. The sum's rounding differs from the reference kernel's (fused):
 * the float32 baseline is checked with a tolerance, never bit for bit.
 *
 * qhil_fc_f32_params (qhil_nn.h; offsets checked in qhil_model.c): n_in u16 @0, n_out
 * u16 @2, weights @4, bias @8, relu u8 @12.
 *
 * r0 input cursor, r1 input, r2 output, r3 block count, r4 n_in, r5 rows left,
 * r6 row A weights, r7 bias, r8 relu, r9 row B weights, r12 tail count (0 after the
 * tail: also the 0.0f ReLU writes), lr row bytes.
 */
    .syntax unified
    .thumb
    .text

/* \acc += the 8 inputs in s4-s11 times the next 8 weights at \w (advanced). */
.macro DOT8 acc, w
    vldmia  \w!, {s12-s15}
    vfma.f32 \acc, s4, s12
    vfma.f32 \acc, s5, s13
    vfma.f32 \acc, s6, s14
    vfma.f32 \acc, s7, s15
    vldmia  \w!, {s12-s15}
    vfma.f32 \acc, s8, s12
    vfma.f32 \acc, s9, s13
    vfma.f32 \acc, s10, s14
    vfma.f32 \acc, s11, s15
.endm

/* ReLU of \reg when r8 != 0; r12 must hold 0. */
.macro RELU reg
    vcmp.f32 \reg, #0
    vmrs    APSR_nzcv, fpscr
    it      mi                      /* less than: a NaN stays a NaN, as in C */
    vmovmi  \reg, r12
.endm

    .global qhil_fc_f32_opt
    .type   qhil_fc_f32_opt, %function
    .thumb_func
qhil_fc_f32_opt:
    push    {r4-r9, lr}
    ldrh    r4, [r0, #0]
    ldrh    r5, [r0, #2]
    ldr     r6, [r0, #4]
    ldr     r7, [r0, #8]
    ldrb    r8, [r0, #12]
    lsl     lr, r4, #2
    add     r9, r6, lr
    cmp     r5, #2
    blo     7f
1:  /* a pair of rows */
    vldmia  r7!, {s0-s1}            /* the two biases */
    mov     r0, r1
    lsrs    r3, r4, #3
    beq     3f
2:
    vldmia  r0!, {s4-s11}
    DOT8    s0, r6
    DOT8    s1, r9
    subs    r3, r3, #1
    bne     2b
3:
    ands    r12, r4, #7
    beq     5f
4:
    vldmia  r0!, {s4}
    vldmia  r6!, {s12}
    vldmia  r9!, {s13}
    vfma.f32 s0, s4, s12
    vfma.f32 s1, s4, s13
    subs    r12, r12, #1
    bne     4b
5:
    cmp     r8, #0
    beq     6f
    RELU    s0
    RELU    s1
6:
    vstmia  r2!, {s0-s1}
    mov     r6, r9                  /* the next pair starts after row B */
    add     r9, r6, lr
    subs    r5, r5, #2
    cmp     r5, #2
    bhs     1b
7:  /* an odd last row (or a one-row layer) */
    cmp     r5, #0
    beq     12f
    vldmia  r7!, {s0}
    mov     r0, r1
    lsrs    r3, r4, #3
    beq     9f
8:
    vldmia  r0!, {s4-s11}
    DOT8    s0, r6
    subs    r3, r3, #1
    bne     8b
9:
    ands    r12, r4, #7
    beq     11f
10:
    vldmia  r0!, {s4}
    vldmia  r6!, {s12}
    vfma.f32 s0, s4, s12
    subs    r12, r12, #1
    bne     10b
11:
    cmp     r8, #0
    beq     13f
    RELU    s0
13:
    vstmia  r2!, {s0}
12:
    pop     {r4-r9, pc}
    .size   qhil_fc_f32_opt, . - qhil_fc_f32_opt
