/*
 * Protocol frame vectors (tests/vectors/protocol/v1.txt): the firmware's COBS encoder must
 * produce each frame exactly, and its decoder must give back the packet.
 * Usage: test_frames <v1.txt>. Built and run by tests/test_protocol.py.
 */
#include <stdio.h>
#include <string.h>

#include "qhil_crc32.h"
#include "qhil_proto.h"

static int hex_decode(const char *hex, uint8_t *out, uint32_t cap)
{
    uint32_t n = (uint32_t)strlen(hex) / 2u;
    if (n > cap) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        unsigned int v;
        if (sscanf(hex + 2u * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return (int)n;
}

int main(int argc, char **argv)
{
    static char packet_hex[8192], frame_hex[8192];
    static uint8_t packet[4096], frame[4096], encoded[4200], decoded[4096];
    FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;
    if (f == NULL) {
        fprintf(stderr, "usage: test_frames v1.txt\n");
        return 2;
    }
    int count = 0, failures = 0;
    while (fscanf(f, "%8191s %8191s", packet_hex, frame_hex) == 2) {
        int np = hex_decode(packet_hex, packet, sizeof packet);
        int nf = hex_decode(frame_hex, frame, sizeof frame);
        count++;
        if (np < 10 || nf < 2 || frame[nf - 1] != 0u) {
            printf("case %d: malformed vector\n", count);
            failures++;
            continue;
        }
        uint32_t crc = qhil_crc32(0, packet, (uint32_t)np - 4u);
        uint32_t stored = (uint32_t)packet[np - 4] | ((uint32_t)packet[np - 3] << 8) |
                          ((uint32_t)packet[np - 2] << 16) | ((uint32_t)packet[np - 1] << 24);
        uint32_t ne = qhil_cobs_encode(packet, (uint32_t)np, encoded);
        int32_t nd = qhil_cobs_decode(frame, (uint32_t)nf - 1u, decoded, sizeof decoded);
        if (crc != stored || ne != (uint32_t)nf - 1u || memcmp(encoded, frame, ne) != 0 ||
            nd != np || memcmp(decoded, packet, (size_t)np) != 0) {
            printf("case %d: mismatch (crc %d, encode %d, decode %d)\n", count, crc == stored,
                   ne == (uint32_t)nf - 1u && memcmp(encoded, frame, ne) == 0, nd == np);
            failures++;
        }
    }
    fclose(f);
    printf("%d frames, %d failures\n", count, failures);
    return failures != 0 || count == 0;
}
