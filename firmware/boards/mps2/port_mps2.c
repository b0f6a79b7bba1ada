/*
 * Arm MPS2 (QEMU mps2-an385/an386/an500): CMSDK APB UART0 at 0x40004000 (RX IRQ 0),
 * CMSDK TIMER0 at 0x40000000 clocked at 25 MHz. Under `-icount shift=7` every
 * instruction takes 128 ns of virtual time, so TIMER0 ticks 3.2 times per instruction:
 * instructions = ticks * 5 / 16. QEMU has no DWT CYCCNT, so instructions it is.
 *
 * The AN505 (Cortex-M33, QEMU mps2-an505, QHIL_MPS2_AN505) has the same CMSDK parts at
 * other addresses. It boots in the Secure state, and its IDAU makes every odd 256 MB
 * region Secure, so the firmware uses the Secure aliases: UART0 at 0x50200000 (RX on
 * expansion IRQ 0, NVIC line 32), the IoT Kit's TIMER0 at 0x50000000, code at
 * 0x10000000 and data at 0x38000000 (mps2_an505.ld). Its clock is 20 MHz: 2.56 ticks
 * per instruction, instructions = ticks * 25 / 64.
 *
 * The AN385/AN386/AN500 also have a LAN9118 Ethernet controller (lan9118.c), which QEMU
 * connects to a UDP socket: the fast emulated link. The firmware listens on both and
 * answers on the link the last request came in on (on both before the first request).
 */
#include "../cortexm/cortexm.h"
#include "qhil_port.h"

#ifdef QHIL_MPS2_AN505
#define UART0_BASE 0x50200000u
#define TIMER0_BASE 0x50000000u
#define UART_RX_IRQ 32u
#define UART_RX_HANDLER Irq32_Handler
#define MPS2_CLOCK_HZ 20000000u
#define COST_NUM 25u
#define COST_DEN 64u
#else
#define UART0_BASE 0x40004000u
#define TIMER0_BASE 0x40000000u
#define UART_RX_IRQ 0u
#define UART_RX_HANDLER Irq0_Handler
#define MPS2_CLOCK_HZ 25000000u
#define COST_NUM 5u
#define COST_DEN 16u
#define MPS2_ETHERNET
#include "lan9118.h"
#endif
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_INTCLEAR (*(volatile uint32_t *)(UART0_BASE + 0x0Cu))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define TIMER_CTRL (*(volatile uint32_t *)(TIMER0_BASE + 0x00u))
#define TIMER_VALUE (*(volatile uint32_t *)(TIMER0_BASE + 0x04u))
#define TIMER_RELOAD (*(volatile uint32_t *)(TIMER0_BASE + 0x08u))

#ifndef QHIL_CPU_NAME
#define QHIL_CPU_NAME "cortex-m"
#endif

const qhil_port_info_t qhil_port_info = {
    .board = QHIL_BOARD,
    .cpu = QHIL_CPU_NAME,
    .clock_hz = MPS2_CLOCK_HZ,
    .cost_kind = QHIL_COST_INSTRUCTIONS,
    .cost_num = COST_NUM,
    .cost_den = COST_DEN,
};

/* The link the last request came in on, which answers go out on. Until a request comes
 * in (the ready announcement after a boot or RESET) the firmware speaks on both. */
static volatile enum { LINK_BOTH, LINK_UART, LINK_ETHERNET } answer_link = LINK_BOTH;

#ifdef MPS2_ETHERNET
void Irq13_Handler(void) /* LAN9118: frames waiting */
{
    if (qhil_lan9118_receive(&qhil_board_rx)) {
        answer_link = LINK_ETHERNET;
    }
}
#endif

void UART_RX_HANDLER(void) /* UART0 RX: only move bytes into the ring */
{
    answer_link = LINK_UART;
    /* Clear before draining: a byte that lands after the drain raises the flag again.
     * The other order loses that byte's interrupt and the 1-byte buffer stays full. */
    UART_INTCLEAR = 2u;
    while (UART_STATE & 2u) {
        if (qhil_ring_full(&qhil_board_rx)) {
            qhil_ring_hold(&qhil_board_rx, UART_RX_IRQ); /* the byte waits in the UART */
            return;
        }
        qhil_ring_push(&qhil_board_rx, (uint8_t)UART_DATA);
    }
}

void qhil_port_init(void)
{
    UART_BAUDDIV = 16u; /* the minimum the CMSDK UART accepts */
    UART_CTRL = 0x1u | 0x2u | 0x8u; /* TX, RX, RX interrupt */
    TIMER_RELOAD = 0xFFFFFFFFu;
    TIMER_VALUE = 0xFFFFFFFFu;
    TIMER_CTRL = 1u;
    qhil_irq_enable(UART_RX_IRQ);
#ifdef MPS2_ETHERNET
    qhil_lan9118_init();
#endif
}

void qhil_port_write(const uint8_t *data, uint32_t len)
{
#ifdef MPS2_ETHERNET
    if (answer_link != LINK_UART) {
        qhil_lan9118_send(data, len);
    }
    if (answer_link == LINK_ETHERNET) {
        return;
    }
#endif
    for (uint32_t i = 0; i < len; i++) {
        while (UART_STATE & 1u) {
        }
        UART_DATA = data[i];
    }
}

uint32_t qhil_port_cost_now(void)
{
    return ~TIMER_VALUE; /* TIMER0 counts down */
}
