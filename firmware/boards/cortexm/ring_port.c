/*
 * The part of the porting contract every ARM board shares: the main loop drains the ring
 * the board's UART RX interrupt fills, sleeps with WFI while it is empty, and RESET is a
 * system reset. Boards provide init, the RX ISR, transmit and the cost counter.
 */
#include "cortexm.h"
#include "qhil_port.h"

qhil_rx_ring qhil_board_rx;

int qhil_port_getc(uint8_t *byte)
{
    return qhil_ring_pop(&qhil_board_rx, byte);
}

void qhil_port_wait(void)
{
    qhil_sleep_unless(&qhil_board_rx.head, qhil_board_rx.tail);
}

void qhil_port_reset(void)
{
    qhil_system_reset();
}
