/*
 * QEMU virt, riscv32 (rv32imac): the NS16550A UART0 at 0x10000000 (16-byte FIFOs, PLIC
 * source 10) and the minstret CSR as the cost counter.
 *
 * The main loop polls the UART; qhil_port_wait sleeps in WFI until the PLIC raises the
 * UART's interrupt. Interrupts stay globally off (mstatus.MIE = 0): WFI wakes on any
 * interrupt pending and enabled in mie, so no handler is needed, and the PLIC claim is
 * completed after each wake so that the next byte can raise it again. Receiving by
 * polling is safe because QEMU holds bytes back while the FIFO is full; a silicon port at
 * a fast baud rate would want an RX interrupt and a ring, as the ARM boards have.
 *
 * The RX trigger level is 14 bytes, not 1: QEMU reads from its socket only as many bytes
 * as the FIFO holds below the trigger, so at 1 every byte costs a pass of its main loop
 * and a wake (measured beside two training runs: an upload at 26 us a byte, at 14 at 17;
 * INFER round trips of 18 and 46 bytes from 1.5-2.8 ms to 0.6-0.9 ms). A frame's last bytes below the trigger raise the FIFO's
 * timeout interrupt, four character times after they came: the divisor of 1 makes that
 * 4 x 10 bits at QEMU virt's base of 399,193 baud, 100 us of virtual time.
 *
 * Cost: under -icount QEMU derives minstret (and mcycle) from the virtual clock, which
 * -icount shift=7 advances by 128 ns an instruction: instructions = minstret / 128. There
 * is no cycle model for the core, so instructions it is.
 */
#include <stdint.h>

#include "qhil_port.h"

#define UART0_BASE 0x10000000u
#define UART_RBR (*(volatile uint8_t *)(UART0_BASE + 0u))
#define UART_THR (*(volatile uint8_t *)(UART0_BASE + 0u))
#define UART_IER (*(volatile uint8_t *)(UART0_BASE + 1u))
#define UART_FCR (*(volatile uint8_t *)(UART0_BASE + 2u))
#define UART_LCR (*(volatile uint8_t *)(UART0_BASE + 3u))
#define UART_LSR (*(volatile uint8_t *)(UART0_BASE + 5u))
#define LSR_DATA_READY 0x01u
#define LSR_THR_EMPTY 0x20u

#define PLIC_BASE 0x0C000000u
#define UART0_IRQ 10u
#define PLIC_PRIORITY(n) (*(volatile uint32_t *)(PLIC_BASE + 4u * (n)))
#define PLIC_ENABLE0 (*(volatile uint32_t *)(PLIC_BASE + 0x2000u)) /* hart 0, M mode */
#define PLIC_THRESHOLD0 (*(volatile uint32_t *)(PLIC_BASE + 0x200000u))
#define PLIC_CLAIM0 (*(volatile uint32_t *)(PLIC_BASE + 0x200004u))
#define MIE_MEIE (1u << 11)

const qhil_port_info_t qhil_port_info = {
    .board = QHIL_BOARD,
    .cpu = "rv32imac",
    .clock_hz = 0, /* QEMU virt models no core clock */
    .cost_kind = QHIL_COST_INSTRUCTIONS,
    .cost_num = 1u,
    .cost_den = 128u,
};

void qhil_port_init(void)
{
    UART_LCR = 0x83u; /* 8N1, divisor latch open */
    UART_RBR = 0x01u; /* DLL: divisor 1 */
    UART_IER = 0x00u; /* DLM */
    UART_LCR = 0x03u; /* 8N1, latch closed */
    UART_FCR = 0xC7u; /* FIFOs on and cleared, RX trigger at 14 */
    UART_IER = 0x01u; /* received data available */
    PLIC_PRIORITY(UART0_IRQ) = 1u;
    PLIC_THRESHOLD0 = 0u;
    PLIC_ENABLE0 = 1u << UART0_IRQ;
    __asm__ volatile("csrs mie, %0" ::"r"(MIE_MEIE));
}

int qhil_port_getc(uint8_t *byte)
{
    if ((UART_LSR & LSR_DATA_READY) == 0u) {
        return 0;
    }
    *byte = UART_RBR;
    return 1;
}

void qhil_port_wait(void)
{
    if ((UART_LSR & LSR_DATA_READY) == 0u) {
        __asm__ volatile("wfi");
    }
    const uint32_t source = PLIC_CLAIM0;
    if (source != 0u) {
        PLIC_CLAIM0 = source;
    }
}

void qhil_port_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        while ((UART_LSR & LSR_THR_EMPTY) == 0u) {
        }
        UART_THR = data[i];
    }
}

uint32_t qhil_port_cost_now(void)
{
    uint32_t n;
    __asm__ volatile("csrr %0, minstret" : "=r"(n));
    return n;
}
