/*
 * Cortex-M reset and vector table shared by every ARM board. A board provides
 * `qhil_board_irq_handler(n)` for external interrupt n through its weak alias.
 */
#include <stdint.h>

extern uint32_t __stack_top;
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Irq0_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Irq1_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Irq2_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Irq13_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Irq32_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Irq33_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Irq37_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Irq38_Handler(void) __attribute__((weak, alias("Default_Handler")));

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Default_Handler(void)
{
    for (;;) {
        /* A fault is a firmware bug: stop here for the debugger, never limp on. */
    }
}

void Reset_Handler(void)
{
    uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20; /* CP10, CP11 full access: the float baseline needs the FPU */
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    main();
    Default_Handler();
}

/* 16 system exceptions + 48 external interrupts: enough for every supported board. */
__attribute__((section(".vectors"), used)) static void (*const vectors[64])(void) = {
    (void (*)(void))(&__stack_top),
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, /* SVC */
    Default_Handler, 0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
    [16 + 0] = Irq0_Handler,
    [16 + 1] = Irq1_Handler,
    [16 + 2] = Irq2_Handler,
    [16 + 13] = Irq13_Handler,
    [16 + 32] = Irq32_Handler,
    [16 + 33] = Irq33_Handler,
    [16 + 37] = Irq37_Handler,
    [16 + 38] = Irq38_Handler,
};
