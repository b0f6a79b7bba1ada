/*
 * qhil_dot2_s8_m0: two int8 rows against one int16 input vector on the Cortex-M0.
 *
 *   void qhil_dot2_s8_m0(const int8_t *w0, const int8_t *w1, const int16_t *x,
 *                        uint32_t n, int32_t *a0, int32_t *a1);
 *   *a0 += sum w0[k] x[k], *a1 += sum w1[k] x[k], k < n; n a multiple of 4 (0 allowed).
 *
 * ARMv6-M loads sign-extended bytes and halfwords only with a register offset, so one
 * index register k serves both rows and 2k the inputs; n lives in a high register so that
 * eight low ones hold the pointers, the index, both sums and two temporaries. Four inputs
 * per pass: 38 instructions for 8 MACs. Checked bit for bit against the reference kernel
 * by the firmware tests on qemu-m0 (shared vectors and random models of every width).
 */
#if defined(__ARM_ARCH_6M__)
    .syntax unified
    .thumb
    .text
    .global qhil_dot2_s8_m0
    .type   qhil_dot2_s8_m0, %function
    .thumb_func
qhil_dot2_s8_m0:
    push    {r4-r7, lr}
    mov     r4, r8
    push    {r4}
    mov     r8, r3              /* n */
    ldr     r4, [sp, #24]       /* a0 */
    ldr     r5, [r4]
    ldr     r4, [sp, #28]       /* a1 */
    ldr     r6, [r4]
    movs    r4, #0              /* k */
    cmp     r4, r8
    beq     2f
    .macro  STEP                /* one input, both rows; k += 1 */
    lsls    r7, r4, #1
    ldrsh   r7, [r2, r7]        /* x[k] */
    ldrsb   r3, [r0, r4]
    muls    r3, r7
    adds    r5, r5, r3
    ldrsb   r3, [r1, r4]
    muls    r3, r7
    adds    r6, r6, r3
    adds    r4, r4, #1
    .endm
1:
    STEP
    STEP
    STEP
    STEP
    cmp     r4, r8
    bne     1b
2:
    ldr     r4, [sp, #24]
    str     r5, [r4]
    ldr     r4, [sp, #28]
    str     r6, [r4]
    pop     {r4}
    mov     r8, r4
    pop     {r4-r7, pc}
    .size   qhil_dot2_s8_m0, . - qhil_dot2_s8_m0
#endif
