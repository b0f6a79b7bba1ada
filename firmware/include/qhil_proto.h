/* The device side of docs/protocol.md. */
#ifndef QHIL_PROTO_H
#define QHIL_PROTO_H

#include <stdint.h>

#include "qhil_status.h"

#define QHIL_PROTO_VERSION 1u
#ifndef QHIL_MAX_PAYLOAD
#define QHIL_MAX_PAYLOAD 1024u /* boards with little RAM declare less in HELLO */
#endif
#define QHIL_PACKET_OVERHEAD 10u /* version, type, seq, length, crc */
#define QHIL_MAX_PACKET (QHIL_MAX_PAYLOAD + QHIL_PACKET_OVERHEAD)
#define QHIL_MAX_FRAME (QHIL_MAX_PACKET + QHIL_MAX_PACKET / 254u + 2u)

enum {
    QHIL_MSG_HELLO = 0x01,
    QHIL_MSG_LOAD_BEGIN = 0x02,
    QHIL_MSG_LOAD_CHUNK = 0x03,
    QHIL_MSG_LOAD_END = 0x04,
    QHIL_MSG_INFER = 0x05,
    QHIL_MSG_BENCH = 0x06,
    QHIL_MSG_RESET = 0x07,
    QHIL_MSG_STATS = 0x08,
    QHIL_MSG_LAYERS = 0x09,
    QHIL_MSG_ERROR = 0xFF
};

/** LOAD_BEGIN flag: the kernel may copy the weights into a wider, faster form. */
#define QHIL_LOAD_WIDEN 1u
/** LOAD_BEGIN flag: the kernel keeps nothing at load (the arena holds the blob alone). */
#define QHIL_LOAD_COMPACT 2u

/** COBS-encode `len` bytes into `out` (room for len + len/254 + 1); returns the size. */
uint32_t qhil_cobs_encode(const uint8_t *in, uint32_t len, uint8_t *out);
/** COBS-decode a frame without its delimiter; returns the size, or -1 if malformed. */
int32_t qhil_cobs_decode(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap);

/** Use `arena` (4-byte aligned) for uploaded models. */
void qhil_proto_init(uint8_t *arena, uint32_t arena_size);
/**
 * A model compiled into flash (4-byte aligned, alive forever): validated like an upload
 * and active whenever no uploaded model is (at boot and after RESET). Returns the
 * loader's verdict; a rejected blob leaves no model active.
 */
qhil_model_error qhil_proto_set_builtin(const uint8_t *blob, uint32_t size);
/** Feed one received byte; complete frames are handled and answered at once. */
void qhil_proto_rx_byte(uint8_t byte);
/**
 * Say "ready": an unsolicited HELLO answer with sequence 0. Sent at boot (from main, once
 * the port and the protocol are initialized) and after RESET, so that a host knows when
 * requests will be heard again (docs/protocol.md#sessions).
 */
void qhil_proto_announce(void);
/** Handle one decoded packet and answer it (for fuzzing and tests). */
void qhil_proto_handle_packet(const uint8_t *packet, uint32_t len);

extern const char *const qhil_firmware_version;

#endif
