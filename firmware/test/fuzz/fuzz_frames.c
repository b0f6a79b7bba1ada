/*
 * libFuzzer entry point for the frame parser and request handlers. Two input modes:
 *  - a byte stream as a host would send it (COBS frames, garbage, anything);
 *  - 'P' then packets, each a u16 length and the packet without its CRC: the harness
 *    sets the length field and appends the right CRC, so mutations reach the request
 *    handlers (LOAD sequences, INFER on a fuzzed model) instead of dying at the CRC.
 * Every delimited, non-empty frame must get exactly one well-formed answer (fuzz_port.c
 * checks the form), and every RESET one "ready" announcement more; the device state starts fresh for every input, so a finding
 * reproduces from its file alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_port.h"
#include "qhil_crc32.h"
#include "qhil_proto.h"

#define ARENA_BYTES 16384u

static uint32_t arena[ARENA_BYTES / 4u];
static uint64_t frames_total;

static void report(void)
{
    fprintf(stderr, "qhil-fuzz: %llu frames\n", (unsigned long long)frames_total);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    atexit(report);
    return 0;
}

static void feed_packets(const uint8_t *data, size_t size)
{
    static uint8_t packet[QHIL_MAX_PACKET], frame[QHIL_MAX_FRAME + 1u];
    size_t pos = 0;
    while (pos + 2u <= size) {
        size_t n = (size_t)data[pos] | ((size_t)data[pos + 1u] << 8);
        pos += 2u;
        if (n > size - pos) {
            n = size - pos;
        }
        if (n < 6u || n + 4u > sizeof packet) {
            pos += n;
            continue;
        }
        memcpy(packet, data + pos, n);
        pos += n;
        packet[4] = (uint8_t)(n - 6u);
        packet[5] = (uint8_t)((n - 6u) >> 8);
        uint32_t crc = qhil_crc32(0, packet, (uint32_t)n);
        for (uint32_t b = 0; b < 4u; b++) {
            packet[n + b] = (uint8_t)(crc >> (8u * b));
        }
        uint32_t len = qhil_cobs_encode(packet, (uint32_t)n + 4u, frame);
        uint32_t before = fuzz_answers;
        uint32_t resets = fuzz_resets;
        for (uint32_t i = 0; i < len; i++) {
            qhil_proto_rx_byte(frame[i]);
        }
        qhil_proto_rx_byte(0);
        if (fuzz_answers - before != 1u + (fuzz_resets - resets)) {
            abort();
        }
        frames_total++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qhil_proto_init((uint8_t *)arena, sizeof arena);
    if (size > 0u && data[0] == 'P') {
        feed_packets(data + 1, size - 1u);
        return 0;
    }
    uint32_t frames = 0;
    uint32_t pending = 0; /* bytes since the last delimiter */
    uint32_t before = fuzz_answers;
    uint32_t resets = fuzz_resets;
    for (size_t i = 0; i < size; i++) {
        qhil_proto_rx_byte(data[i]);
        if (data[i] != 0u) {
            pending++;
        } else if (pending > 0u) {
            frames++;
            pending = 0;
        }
    }
    if (fuzz_answers - before != frames + (fuzz_resets - resets)) {
        abort(); /* a frame went unanswered, or one frame got two answers */
    }
    frames_total += frames;
    return 0;
}
