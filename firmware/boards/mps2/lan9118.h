/*
 * The SMSC LAN9118 Ethernet controller of the MPS2 FPGA images (QEMU models it on the
 * AN385 and AN386 at 0x40200000, on the AN500 at 0xA0000000; IRQ 13): the emulated link of
 * docs/protocol.md#ethernet-link. Frames of EtherType 0x88B5 carry a chunk of the
 * protocol's byte stream; every other frame is dropped.
 */
#ifndef QHIL_LAN9118_H
#define QHIL_LAN9118_H

#include <stdint.h>

#include "../cortexm/cortexm.h"

#define QHIL_LAN9118_IRQ 13u
#ifndef QHIL_LAN9118_BASE
#define QHIL_LAN9118_BASE 0x40200000u
#endif

/** MAC on, receive everything, interrupt when a received frame is waiting. */
void qhil_lan9118_init(void);

/** Move the stream bytes of every waiting frame into `ring` and remember the sender.
 * @return 1 when at least one qhil frame arrived */
int qhil_lan9118_receive(qhil_rx_ring *ring);

/** Send `len` stream bytes to the last sender, in frames of at most 1,498 bytes. */
void qhil_lan9118_send(const uint8_t *data, uint32_t len);

#endif
