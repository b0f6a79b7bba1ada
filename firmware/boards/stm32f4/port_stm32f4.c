/*
 * STM32F4 bare metal: one USART driver for QEMU netduinoplus2 (STM32F405, USART1) and
 * the real boards (Nucleo-F446RE: USART2 on PA2/PA3 = ST-LINK virtual COM port; Black
 * Pill F411: USART1 on PA9/PA10). Runs from the 16 MHz HSI, 115200 baud, 8N1.
 *
 * Cost: DWT CYCCNT cycles on real silicon (RM0090 / ARMv7-M ARM). QEMU implements no DWT,
 * so the qemu build (QHIL_COST_TIM2) counts TIM2, which QEMU clocks at 1 GHz: under
 * -icount shift=7 that is 128 ticks per instruction.
 */
#include "../cortexm/cortexm.h"
#include "qhil_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define RCC_APB2ENR REG(0x40023844u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRL REG(0x40020020u)
#define GPIOA_AFRH REG(0x40020024u)

#if defined(QHIL_USART2)
#define USART_BASE 0x40004400u
#define USART_IRQ 38u
#define USART_HANDLER Irq38_Handler
#else
#define USART_BASE 0x40011000u
#define USART_IRQ 37u
#define USART_HANDLER Irq37_Handler
#endif
#define USART_SR REG(USART_BASE + 0x00u)
#define USART_DR REG(USART_BASE + 0x04u)
#define USART_BRR REG(USART_BASE + 0x08u)
#define USART_CR1 REG(USART_BASE + 0x0Cu)
#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)

#define TIM2_CR1 REG(0x40000000u)
#define TIM2_CNT REG(0x40000024u)
#define TIM2_PSC REG(0x40000028u)
#define TIM2_ARR REG(0x4000002Cu)
#define TIM2_EGR REG(0x40000014u)

#ifndef QHIL_CPU_NAME
#define QHIL_CPU_NAME "cortex-m4"
#endif
#ifndef QHIL_CLOCK_HZ
#define QHIL_CLOCK_HZ 16000000u
#endif

const qhil_port_info_t qhil_port_info = {
    .board = QHIL_BOARD,
    .cpu = QHIL_CPU_NAME,
    .clock_hz = QHIL_CLOCK_HZ,
#if defined(QHIL_COST_TIM2)
    .cost_kind = QHIL_COST_INSTRUCTIONS,
    .cost_num = 1,
    .cost_den = 128,
#else
    .cost_kind = QHIL_COST_CYCLES,
    .cost_num = 1,
    .cost_den = 1,
#endif
};

void USART_HANDLER(void)
{
    uint32_t sr;
    while ((sr = USART_SR) & (SR_RXNE | SR_ORE)) {
        if ((sr & SR_RXNE) && qhil_ring_full(&qhil_board_rx)) {
            qhil_ring_hold(&qhil_board_rx, USART_IRQ); /* the byte waits in the USART */
            return;
        }
        uint8_t byte = (uint8_t)USART_DR; /* reading DR clears RXNE and ORE */
        if (sr & SR_RXNE) {
            qhil_ring_push(&qhil_board_rx, byte);
        }
    }
}

void qhil_port_init(void)
{
    RCC_AHB1ENR |= 1u; /* GPIOA */
#if defined(QHIL_USART2)
    RCC_APB1ENR |= 1u << 17;
    /* PA2 TX, PA3 RX: alternate function 7 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4);
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);
#else
    RCC_APB2ENR |= 1u << 4;
    /* PA9 TX, PA10 RX: alternate function 7 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFFu << 4)) | (0x77u << 4);
#endif
    USART_BRR = 139u; /* 16 MHz / 115200 = 138.9 */
    USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2) | (1u << 5); /* UE, TE, RE, RXNEIE */
#if defined(QHIL_COST_TIM2)
    RCC_APB1ENR |= 1u; /* TIM2 */
    TIM2_PSC = 0;
    TIM2_ARR = 0xFFFFFFFFu;
    TIM2_EGR = 1u;
    TIM2_CR1 = 1u;
#else
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u; /* CYCCNTENA */
#endif
    qhil_irq_enable(USART_IRQ);
}

void qhil_port_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        while (!(USART_SR & SR_TXE)) {
        }
        USART_DR = data[i];
    }
}

uint32_t qhil_port_cost_now(void)
{
#if defined(QHIL_COST_TIM2)
    return TIM2_CNT;
#else
    return DWT_CYCCNT;
#endif
}
