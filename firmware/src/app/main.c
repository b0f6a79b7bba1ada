/* The firmware's main loop: bytes in, frames handled, answers out. Nothing else runs. */
#include <stdint.h>

#include "qhil_port.h"
#include "qhil_proto.h"

#ifndef QHIL_ARENA_SIZE
#define QHIL_ARENA_SIZE 16384u
#endif

static uint32_t arena[QHIL_ARENA_SIZE / 4u]; /* uploaded model blobs live here */

#ifdef QHIL_BUILTIN_MODEL
/* A model compiled into flash (qhil export-c --name qhil_builtin): active from boot, for
 * models larger than the RAM arena. An upload replaces it until the next reset. The
 * name is fixed so that the build notices when the header changes. */
#include "qhil_builtin_model.h"
#endif

int main(void)
{
    qhil_port_init();
    qhil_proto_init((uint8_t *)arena, sizeof arena);
#ifdef QHIL_BUILTIN_MODEL
    qhil_proto_set_builtin(qhil_builtin_blob, QHIL_BUILTIN_BLOB_LEN);
#endif
    qhil_proto_announce();
    for (;;) {
        uint8_t byte;
        while (qhil_port_getc(&byte)) {
            qhil_proto_rx_byte(byte);
        }
        qhil_port_wait();
    }
}
