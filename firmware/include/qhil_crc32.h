#ifndef QHIL_CRC32_H
#define QHIL_CRC32_H

#include <stdint.h>

/** CRC-32 (IEEE 802.3, zlib's crc32) of `len` bytes, continuing from `crc` (start with 0). */
uint32_t qhil_crc32(uint32_t crc, const uint8_t *data, uint32_t len);

#endif
