/*
 * nRF51822 (QEMU microbit, Cortex-M0): UART0 at 0x40002000 (IRQ 2), TIMER0 at 0x40008000
 * in 32-bit mode at 16 MHz. Under -icount shift=7 (128 ns per instruction) TIMER0 ticks
 * 2.048 times per instruction: instructions = ticks * 125 / 256. The M0 has no DWT.
 */
#include "../cortexm/cortexm.h"
#include "qhil_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define UART_BASE 0x40002000u
#define UART_STARTRX REG(UART_BASE + 0x000u)
#define UART_STARTTX REG(UART_BASE + 0x008u)
#define UART_RXDRDY REG(UART_BASE + 0x108u)
#define UART_TXDRDY REG(UART_BASE + 0x11Cu)
#define UART_INTENSET REG(UART_BASE + 0x304u)
#define UART_ENABLE REG(UART_BASE + 0x500u)
#define UART_PSELTXD REG(UART_BASE + 0x50Cu)
#define UART_PSELRXD REG(UART_BASE + 0x514u)
#define UART_RXD REG(UART_BASE + 0x518u)
#define UART_TXD REG(UART_BASE + 0x51Cu)
#define UART_BAUDRATE REG(UART_BASE + 0x524u)
#define TIMER_BASE 0x40008000u
#define TIMER_START REG(TIMER_BASE + 0x000u)
#define TIMER_CAPTURE0 REG(TIMER_BASE + 0x040u)
#define TIMER_MODE REG(TIMER_BASE + 0x504u)
#define TIMER_BITMODE REG(TIMER_BASE + 0x508u)
#define TIMER_PRESCALER REG(TIMER_BASE + 0x510u)
#define TIMER_CC0 REG(TIMER_BASE + 0x540u)

const qhil_port_info_t qhil_port_info = {
    .board = QHIL_BOARD,
    .cpu = "cortex-m0",
    .clock_hz = 16000000u,
    .cost_kind = QHIL_COST_INSTRUCTIONS,
    .cost_num = 125,
    .cost_den = 256,
};

void Irq2_Handler(void) /* UART0: move received bytes into the ring */
{
    while (UART_RXDRDY) {
        if (qhil_ring_full(&qhil_board_rx)) {
            qhil_ring_hold(&qhil_board_rx, 2u); /* the byte waits in the UART */
            return;
        }
        UART_RXDRDY = 0; /* clear first: the next byte in the FIFO raises it again */
        qhil_ring_push(&qhil_board_rx, (uint8_t)UART_RXD);
    }
}

void qhil_port_init(void)
{
    UART_PSELTXD = 24u; /* micro:bit edge connector pins of the USB serial bridge */
    UART_PSELRXD = 25u;
    UART_BAUDRATE = 0x01D7E000u; /* 115200 */
    UART_ENABLE = 4u;
    UART_INTENSET = 1u << 2; /* RXDRDY */
    UART_STARTRX = 1u;
    UART_STARTTX = 1u;
    TIMER_MODE = 0u;
    TIMER_BITMODE = 3u;
    TIMER_PRESCALER = 0u;
    TIMER_START = 1u;
    qhil_irq_enable(2);
}

void qhil_port_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        UART_TXDRDY = 0;
        UART_TXD = data[i];
        while (!UART_TXDRDY) {
        }
    }
}

uint32_t qhil_port_cost_now(void)
{
    TIMER_CAPTURE0 = 1u;
    return TIMER_CC0;
}
