/* Cortex-M core registers and helpers shared by the ARM ports (no vendor headers). */
#ifndef QHIL_CORTEXM_H
#define QHIL_CORTEXM_H

#include <stdint.h>

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ISER1 (*(volatile uint32_t *)0xE000E104u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

static inline void qhil_irq_enable(uint32_t n)
{
    if (n < 32u) {
        NVIC_ISER0 = 1u << n;
    } else {
        NVIC_ISER1 = 1u << (n - 32u);
    }
}

/*
 * Sleep until an interrupt unless `ready` already holds. Interrupts are masked around
 * the check so a byte that arrives between the check and WFI still wakes the core.
 */
static inline void qhil_sleep_unless(volatile const uint32_t *head, uint32_t tail)
{
    __asm__ volatile("cpsid i" ::: "memory");
    if (*head == tail) {
        __asm__ volatile("wfi" ::: "memory");
    }
    __asm__ volatile("cpsie i" ::: "memory");
}

static inline void qhil_system_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    for (;;) {
    }
}

/* Single-producer (ISR) single-consumer (main loop) byte ring. */
#ifndef QHIL_RX_RING
#define QHIL_RX_RING 512u
#endif
typedef struct {
    volatile uint32_t head; /* written by the ISR */
    uint32_t tail;          /* written by the main loop */
    uint8_t data[QHIL_RX_RING];
} qhil_rx_ring;

/** The ring every ARM board's UART RX interrupt fills (boards/cortexm/ring_port.c). */
extern qhil_rx_ring qhil_board_rx;

static inline void qhil_ring_push(qhil_rx_ring *r, uint8_t byte)
{
    uint32_t next = (r->head + 1u) % QHIL_RX_RING;
    if (next != r->tail) { /* full: drop; the frame CRC reports it to the host */
        r->data[r->head] = byte;
        r->head = next;
    }
}

static inline int qhil_ring_pop(qhil_rx_ring *r, uint8_t *byte)
{
    if (r->tail == r->head) {
        return 0;
    }
    *byte = r->data[r->tail];
    r->tail = (r->tail + 1u) % QHIL_RX_RING;
    return 1;
}

#endif
