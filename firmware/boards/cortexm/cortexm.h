/* Cortex-M core registers and helpers shared by the ARM ports (no vendor headers). */
#ifndef QHIL_CORTEXM_H
#define QHIL_CORTEXM_H

#include <stdint.h>

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ISER1 (*(volatile uint32_t *)0xE000E104u)
#define NVIC_ICER0 (*(volatile uint32_t *)0xE000E180u)
#define NVIC_ISPR0 (*(volatile uint32_t *)0xE000E200u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

/* NVIC registers come in banks of 32 interrupts, 4 bytes apart. */
static inline void qhil_irq_enable(uint32_t n)
{
    (&NVIC_ISER0)[n / 32u] = 1u << (n % 32u);
}

static inline void qhil_irq_disable(uint32_t n)
{
    (&NVIC_ICER0)[n / 32u] = 1u << (n % 32u);
}

static inline void qhil_irq_pend(uint32_t n)
{
    (&NVIC_ISPR0)[n / 32u] = 1u << (n % 32u);
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

/*
 * Single-producer (ISR) single-consumer (main loop) byte ring.
 *
 * A UART's RX interrupt that finds the ring full leaves the byte in the UART and masks
 * itself (qhil_ring_hold); the main loop unmasks it and makes it pending once the ring
 * has room again (qhil_ring_pop), so the handler drains what waited. The UART then holds
 * the sender off as a full FIFO does (QEMU stops reading its socket), and a burst longer
 * than the ring loses nothing. Ethernet frames cannot wait in the controller half-read:
 * their bytes are dropped when the ring is full (docs/protocol.md#ethernet-link).
 */
#ifndef QHIL_RX_RING
#define QHIL_RX_RING 512u
#endif
typedef struct {
    volatile uint32_t head; /* written by the ISR */
    uint32_t tail;          /* written by the main loop */
    volatile uint32_t held; /* the UART IRQ + 1 while it is masked for a full ring; 0 */
    uint8_t data[QHIL_RX_RING];
} qhil_rx_ring;

/** The ring every ARM board's UART RX interrupt fills (boards/cortexm/ring_port.c). */
extern qhil_rx_ring qhil_board_rx;

static inline int qhil_ring_full(const qhil_rx_ring *r)
{
    return (r->head + 1u) % QHIL_RX_RING == r->tail;
}

static inline void qhil_ring_push(qhil_rx_ring *r, uint8_t byte)
{
    uint32_t next = (r->head + 1u) % QHIL_RX_RING;
    if (next != r->tail) { /* full (Ethernet only): drop; the host's timeout recovers */
        r->data[r->head] = byte;
        r->head = next;
    }
}

/* Called by a UART RX handler that finds the ring full, before it reads the byte. */
static inline void qhil_ring_hold(qhil_rx_ring *r, uint32_t irq)
{
    qhil_irq_disable(irq);
    r->held = irq + 1u;
}

static inline int qhil_ring_pop(qhil_rx_ring *r, uint8_t *byte)
{
    if (r->tail == r->head) {
        return 0;
    }
    *byte = r->data[r->tail];
    r->tail = (r->tail + 1u) % QHIL_RX_RING;
    if (r->held != 0u) { /* room again: the UART's waiting bytes come in */
        uint32_t irq = r->held - 1u;
        r->held = 0u;
        qhil_irq_enable(irq);
        qhil_irq_pend(irq);
    }
    return 1;
}

#endif
