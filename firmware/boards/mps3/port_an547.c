/*
 * Arm MPS3 AN547 (Cortex-M55 with Helium and FPU on the SSE-300; QEMU mps3-an547). It
 * boots in the Secure state and its IDAU makes every odd 256 MB region Secure, so the
 * firmware uses the Secure aliases: the CMSDK UART0 at 0x59303000 (RX on NVIC line 33),
 * code in the ITCM at 0x10000000 and data in the DTCM at 0x30000000 (mps3_an547.ld).
 *
 * Cost: the SSE-300 has no CMSDK timer, so the counter is the core's SysTick on the
 * 32 MHz processor clock, widened to 32 bits by counting its wraps (every 2^24 ticks).
 * Under `-icount shift=7` an instruction takes 128 ns of virtual time, 4.096 ticks:
 * instructions = ticks * 125 / 512. QEMU has no DWT CYCCNT, so instructions it is.
 */
#include "../cortexm/cortexm.h"
#include "qhil_port.h"

#define UART0_BASE 0x59303000u
#define UART_RX_IRQ 33u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_INTCLEAR (*(volatile uint32_t *)(UART0_BASE + 0x0Cu))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_MAX 0x00FFFFFFu
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

const qhil_port_info_t qhil_port_info = {
    .board = QHIL_BOARD,
    .cpu = "cortex-m55",
    .clock_hz = 32000000u,
    .cost_kind = QHIL_COST_INSTRUCTIONS,
    .cost_num = 125u,
    .cost_den = 512u,
};

static volatile uint32_t systick_wraps;

void SysTick_Handler(void)
{
    systick_wraps++;
}

void Irq33_Handler(void) /* UART0 RX: only move bytes into the ring */
{
    /* clear before draining, as on the MPS2 boards (port_mps2.c says why) */
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
    UART_BAUDDIV = 16u;
    UART_CTRL = 0x1u | 0x2u | 0x8u; /* TX, RX, RX interrupt */
    SYST_RVR = SYST_MAX;
    SYST_CVR = 0u;
    SYST_CSR = 0x7u; /* processor clock, wrap interrupt, enabled */
    qhil_irq_enable(UART_RX_IRQ);
}

void qhil_port_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        while (UART_STATE & 1u) {
        }
        UART_DATA = data[i];
    }
}

uint32_t qhil_port_cost_now(void)
{
    /* A wrap taken between the reads shows as a changed wrap count: retry. A wrap whose
     * interrupt is still pending (QEMU takes interrupts between translation blocks) has
     * already reloaded the count if it reads high: count it here. */
    uint32_t wraps;
    uint32_t down;
    uint32_t pending;
    do {
        wraps = systick_wraps;
        down = SYST_CVR;
        pending = SCB_ICSR & ICSR_PENDSTSET;
    } while (wraps != systick_wraps);
    if (pending != 0u && down > SYST_MAX / 2u) {
        wraps++;
    }
    return (wraps << 24) + (SYST_MAX - down);
}
