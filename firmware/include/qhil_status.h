/* Status codes shared by the runtime and the protocol (docs/protocol.md#error-codes). */
#ifndef QHIL_STATUS_H
#define QHIL_STATUS_H

typedef enum {
    QHIL_OK = 0,
    QHIL_ERR_CRC = 1,
    QHIL_ERR_LENGTH = 2,
    QHIL_ERR_UNKNOWN_TYPE = 3,
    QHIL_ERR_VERSION = 4,
    QHIL_ERR_TOO_LARGE = 5,
    QHIL_ERR_BAD_MODEL = 6,
    QHIL_ERR_NO_MODEL = 7,
    QHIL_ERR_STATE = 8,
    QHIL_ERR_INPUT = 9,
    QHIL_ERR_OVERFLOW = 10,
    QHIL_ERR_OFFSET = 11,
    QHIL_ERR_PAYLOAD = 12,
    QHIL_ERR_FRAME = 13
} qhil_status;

/* Why a blob was rejected: the detail of QHIL_ERR_BAD_MODEL. */
typedef enum {
    QHIL_MODEL_OK = 0,
    QHIL_MODEL_ERR_MAGIC = 1,
    QHIL_MODEL_ERR_VERSION = 2,
    QHIL_MODEL_ERR_SIZE = 3,
    QHIL_MODEL_ERR_CRC = 4,
    QHIL_MODEL_ERR_HEADER = 5,
    QHIL_MODEL_ERR_SHAPE = 6,
    QHIL_MODEL_ERR_WIDTH = 7,
    QHIL_MODEL_ERR_SECTION = 8,
    QHIL_MODEL_ERR_WEIGHT = 9,
    QHIL_MODEL_ERR_PADDING = 10,
    QHIL_MODEL_ERR_REQUANT = 11,
    QHIL_MODEL_ERR_ACC_BOUND = 12,
    QHIL_MODEL_ERR_LUT = 13,
    QHIL_MODEL_ERR_KIND = 14
} qhil_model_error;

#endif
