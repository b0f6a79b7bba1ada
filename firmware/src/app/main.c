/* The firmware's main loop: bytes in, frames handled, answers out. Nothing else runs. */
#include <stdint.h>

#include "qhil_port.h"
#include "qhil_proto.h"

#ifndef QHIL_ARENA_SIZE
#define QHIL_ARENA_SIZE 16384u
#endif

static uint32_t arena[QHIL_ARENA_SIZE / 4u]; /* uploaded model blobs live here */

int main(void)
{
    qhil_port_init();
    qhil_proto_init((uint8_t *)arena, sizeof arena);
    for (;;) {
        uint8_t byte;
        while (qhil_port_getc(&byte)) {
            qhil_proto_rx_byte(byte);
        }
        qhil_port_wait();
    }
}
