/*
 * The porting contract: what a board provides. Core code never includes vendor headers.
 *
 * Required:
 *   qhil_port_init      clocks, UART, cost counter
 *   qhil_port_getc      non-blocking: next received byte, if any (the RX ISR, where there is
 *                       one, only enqueues bytes into a ring buffer)
 *   qhil_port_wait      sleep until a byte may have arrived (WFI on an RX interrupt)
 *   qhil_port_write     blocking transmit
 *   qhil_port_cost_now  free-running up-counter (cycles, instruction ticks or ns)
 *   qhil_port_info      static description reported in HELLO
 * Optional (weak defaults in src/runtime/qhil_port_defaults.c):
 *   qhil_port_reset     called after answering RESET (boards may do a system reset)
 */
#ifndef QHIL_PORT_H
#define QHIL_PORT_H

#include <stdint.h>

enum { QHIL_COST_NONE = 0, QHIL_COST_CYCLES = 1, QHIL_COST_INSTRUCTIONS = 2, QHIL_COST_NS = 3 };

typedef struct {
    const char *board;
    const char *cpu;
    uint32_t clock_hz;
    uint8_t cost_kind;
    uint16_t cost_num; /**< cost in the kind's unit = raw * num / den */
    uint16_t cost_den;
} qhil_port_info_t;

extern const qhil_port_info_t qhil_port_info;

void qhil_port_init(void);
int qhil_port_getc(uint8_t *byte);
void qhil_port_wait(void);
void qhil_port_write(const uint8_t *data, uint32_t len);
uint32_t qhil_port_cost_now(void);
void qhil_port_reset(void);

#endif
