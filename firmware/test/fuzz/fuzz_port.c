/*
 * The port the fuzzers link against: no UART, a counter for a clock, and a write that
 * checks every answer the firmware sends. An answer that is not one well-formed frame
 * (COBS, delimiter, length, CRC, response or ERROR type) aborts, so the fuzzer reports it.
 */
#include <stdlib.h>

#include "fuzz_port.h"
#include "qhil_crc32.h"
#include "qhil_port.h"
#include "qhil_proto.h"

const qhil_port_info_t qhil_port_info = {
    .board = "fuzz",
    .cpu = "host",
    .clock_hz = 0,
    .cost_kind = QHIL_COST_NONE,
    .cost_num = 1,
    .cost_den = 1,
};

uint32_t fuzz_answers;
uint32_t fuzz_resets;
static uint32_t ticks;

void qhil_port_init(void)
{
}

int qhil_port_getc(uint8_t *byte)
{
    (void)byte;
    return 0;
}

void qhil_port_wait(void)
{
}

uint32_t qhil_port_cost_now(void)
{
    return ticks++;
}

void qhil_port_write(const uint8_t *data, uint32_t len)
{
    static uint8_t packet[QHIL_MAX_PACKET];
    if (len < 2u || data[len - 1u] != 0u) {
        abort();
    }
    for (uint32_t i = 0; i + 1u < len; i++) {
        if (data[i] == 0u) {
            abort();
        }
    }
    int32_t n = qhil_cobs_decode(data, len - 1u, packet, sizeof packet);
    if (n < (int32_t)QHIL_PACKET_OVERHEAD) {
        abort();
    }
    uint32_t payload = (uint32_t)packet[4] | ((uint32_t)packet[5] << 8);
    uint32_t crc = (uint32_t)packet[n - 4] | ((uint32_t)packet[n - 3] << 8) |
                   ((uint32_t)packet[n - 2] << 16) | ((uint32_t)packet[n - 1] << 24);
    if (payload + QHIL_PACKET_OVERHEAD != (uint32_t)n || packet[0] != QHIL_PROTO_VERSION ||
        (packet[1] & 0x80u) == 0u || qhil_crc32(0, packet, (uint32_t)n - 4u) != crc) {
        abort();
    }
    fuzz_answers++;
}

void qhil_port_reset(void)
{
    fuzz_resets++; /* the device then announces itself: one frame more than requests */
}
