/* Consistent Overhead Byte Stuffing: frames never contain 0x00, which delimits them. */
#include "qhil_proto.h"

uint32_t qhil_cobs_encode(const uint8_t *in, uint32_t len, uint8_t *out)
{
    uint32_t code_at = 0;
    uint32_t o = 1;
    uint8_t code = 1;
    for (uint32_t i = 0; i < len; i++) {
        if (in[i] == 0u) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xFFu) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

int32_t qhil_cobs_decode(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap)
{
    uint32_t i = 0;
    uint32_t o = 0;
    while (i < len) {
        uint8_t code = in[i++];
        if (code == 0u) {
            return -1;
        }
        for (uint8_t j = 1; j < code; j++) {
            if (i >= len || in[i] == 0u || o >= cap) {
                return -1;
            }
            out[o++] = in[i++];
        }
        if (code != 0xFFu && i < len) {
            if (o >= cap) {
                return -1;
            }
            out[o++] = 0;
        }
    }
    return (int32_t)o;
}
