/*
 * esnn_frame.h - framing of the edgesnn serial protocol (firmware/PROTOCOL.md sections 1, 2):
 * COBS with a 0x00 delimiter, CRC32, and the packet header. No malloc, no globals: the receiver's
 * state and buffer belong to the caller.
 */
#ifndef ESNN_FRAME_H
#define ESNN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "esnn_bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESNN_PROTO_VERSION 1u
#define ESNN_PROTO_HEADER 6u   /* version, type, request_id, length */
#define ESNN_PROTO_OVERHEAD 10u /* header + CRC32 */
#define ESNN_PROTO_NO_ID 0xFFFFu

/* Message types: X(name, value). The Python side (edgesnn/host/framing.py) is checked against this list. */
#define ESNN_MSG_LIST(X)      \
    X(ESNN_MSG_HELLO, 0x01)   \
    X(ESNN_MSG_RESET, 0x02)   \
    X(ESNN_MSG_FRAME, 0x03)   \
    X(ESNN_MSG_SAMPLE, 0x04)  \
    X(ESNN_MSG_INFO, 0x81)    \
    X(ESNN_MSG_ACK, 0x82)     \
    X(ESNN_MSG_RESULT, 0x83)  \
    X(ESNN_MSG_ERROR, 0x8F)

/* ERROR codes: X(name, value, text). */
#define ESNN_PERR_LIST(X)                                                     \
    X(ESNN_PERR_FRAMING, 1, "frame ends inside a COBS block or is too short") \
    X(ESNN_PERR_BAD_CRC, 2, "CRC32 mismatch")                                 \
    X(ESNN_PERR_OVERSIZE, 3, "frame larger than max_payload")                 \
    X(ESNN_PERR_BAD_VERSION, 4, "unsupported protocol version")               \
    X(ESNN_PERR_BAD_LENGTH, 5, "length field does not match the frame")       \
    X(ESNN_PERR_UNKNOWN_TYPE, 6, "unknown message type")                      \
    X(ESNN_PERR_BAD_PAYLOAD, 7, "payload invalid for its type")               \
    X(ESNN_PERR_BAD_SEQUENCE, 8, "frame index out of sequence")               \
    X(ESNN_PERR_NO_MODEL, 9, "no usable model")                               \
    X(ESNN_PERR_RUNTIME, 10, "runtime error")

#define ESNN_ENUM2_(name, value) name = value,
#define ESNN_ENUM3_(name, value, text) name = value,
typedef enum { ESNN_MSG_LIST(ESNN_ENUM2_) ESNN_MSG_MAX_ = 0xFF } esnn_msg_t;
typedef enum { ESNN_PERR_LIST(ESNN_ENUM3_) ESNN_PERR_MAX_ = 0xFF } esnn_perr_t;
#undef ESNN_ENUM2_
#undef ESNN_ENUM3_

/* Text of an ERROR code ("unknown error" out of range). */
const char *esnn_perr_str(uint8_t code);

/* CRC32 (esnn_crc32) and the little-endian readers / writers (esnn_rd16/32, esnn_wr16/32): runtime/esnn_bytes.h,
 * shared with the runtime. */

/* Streaming COBS receiver: feed bytes one at a time; decoded bytes go to buf[0, cap). */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;      /* decoded bytes so far (counts past cap when oversize) */
    uint8_t code;    /* code byte of the current block */
    uint8_t left;    /* data bytes still expected in the current block */
    uint8_t started; /* a code byte has been seen in this frame */
} esnn_cobs_rx_t;

typedef enum {
    ESNN_COBS_MORE = 0,     /* frame not complete */
    ESNN_COBS_FRAME = 1,    /* buf[0, len) holds a complete frame */
    ESNN_COBS_EMPTY = 2,    /* a lone delimiter: ignore */
    ESNN_COBS_OVERSIZE = 3, /* the frame decoded to more than cap bytes (len says how many) */
    ESNN_COBS_ERROR = 4     /* the frame ended inside a block */
} esnn_cobs_event_t;

void esnn_cobs_rx_init(esnn_cobs_rx_t *rx, uint8_t *buf, size_t cap);
esnn_cobs_event_t esnn_cobs_rx_byte(esnn_cobs_rx_t *rx, uint8_t b);

/* Sink for encoded bytes (a UART, a file descriptor). */
typedef void (*esnn_write_fn)(void *user, const uint8_t *data, size_t len);

/* COBS-encode data[0, n) and the 0x00 delimiter into the sink, block by block (no buffer of its own). */
void esnn_cobs_write(const uint8_t *data, size_t n, esnn_write_fn write, void *user);

#ifdef __cplusplus
}
#endif
#endif /* ESNN_FRAME_H */
