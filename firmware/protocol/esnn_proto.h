/*
 * esnn_proto.h - device side of the edgesnn serial protocol (firmware/PROTOCOL.md): a frame parser with
 * bounded buffers and a dispatcher over the runtime API (firmware/runtime/esnn.h).
 *
 * No malloc, no globals: the port owns every buffer and passes them in esnn_proto_mem_t.
 *
 *     esnn_proto_t p;                       // a port's main keeps it (and the buffers) in static storage
 *     esnn_proto_init(&p, &port, blob, blob_len, &mem);   // loads the model; a failure is reported in INFO
 *     esnn_proto_announce(&p);              // boot INFO with request id NO_ID
 *     for (;;) { n = uart_read(buf); esnn_proto_feed(&p, buf, n); }   // replies go to port.write
 *
 * Memory (all caller-owned):
 *     rx     10 + max_payload bytes          decoded request (max_payload = rx_cap - 10, at most 65535)
 *     tx     10 + largest reply payload      the last reply, kept for retransmissions (>= 86 bytes)
 *     input  frames * C*H*W bytes            the sample's u8 frames
 *     arena  esnn_arena_required() bytes     the runtime's arena
 */
#ifndef ESNN_PROTO_H
#define ESNN_PROTO_H

#include "esnn.h"
#include "esnn_frame.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESNN_PROTO_NAME_MAX 32u
#define ESNN_PROTO_INFO_MAX (44u + ESNN_PROTO_NAME_MAX)
#define ESNN_PROTO_ERROR_MAX 52u
#define ESNN_PROTO_MSG_MAX 48u

/* Encodings of FRAME / SAMPLE data. */
#define ESNN_ENC_U8 0u
#define ESNN_ENC_BITS 1u
#define ESNN_ENC_MASK ((1u << ESNN_ENC_U8) | (1u << ESNN_ENC_BITS))

/* RESULT counter kinds. */
#define ESNN_COUNTER_NONE 0u
#define ESNN_COUNTER_INSTRUCTIONS 1u
#define ESNN_COUNTER_CYCLES 2u
#define ESNN_COUNTER_NANOSECONDS 3u

/* What the board provides. */
typedef struct {
    esnn_write_fn write;             /* sends bytes to the host (blocking) */
    uint64_t (*counter)(void *user); /* monotonic counter (instructions, cycles, ns), or NULL */
    uint8_t counter_kind;            /* ESNN_COUNTER_* (NONE when counter is NULL) */
    const char *device_name;         /* device profile name, <= 32 ASCII bytes */
    void *user;                      /* passed to write and counter */
} esnn_port_t;

typedef struct {
    uint8_t *rx;
    size_t rx_cap;
    uint8_t *tx;
    size_t tx_cap;
    uint8_t *input;
    size_t input_cap;
    void *arena;
    size_t arena_cap;
    uint32_t options; /* esnn_init_ex options: 0 the lean plan; ESNN_OPT_FAST spends arena_cap on speed */
} esnn_proto_mem_t;

typedef struct {
    uint32_t frames_ok;  /* requests that passed the CRC check */
    uint32_t errors;     /* ERROR replies sent */
    uint32_t resent;     /* replies resent for a repeated request */
} esnn_proto_stats_t;

typedef struct {
    const esnn_port_t *port;
    esnn_ctx_t rt;
    esnn_status_t model_status;
    const uint8_t *blob;
    size_t blob_len;
    esnn_proto_mem_t mem;
    esnn_cobs_rx_t cobs;
    uint16_t max_payload;
    size_t frame_size;  /* C*H*W */
    uint16_t frames;    /* input frames per sample */
    uint16_t next_frame;
    uint64_t work;      /* counter total of the sample in progress */
    size_t tx_len;      /* bytes of the last reply in tx */
    uint16_t last_id;
    uint32_t last_crc;
    uint8_t have_last;
    esnn_proto_stats_t stats;
} esnn_proto_t;

/* Load the model (esnn_init into mem->arena) and set up the receiver. Returns the model status, which INFO
 * reports; the protocol works either way (requests that need a model get NO_MODEL). ESNN_ERR_ARG when the
 * port or the rx/tx buffers are unusable (rx < 10 + 8 bytes, tx < 10 + 76): then nothing may be fed. */
esnn_status_t esnn_proto_init(esnn_proto_t *p, const esnn_port_t *port, const uint8_t *blob, size_t blob_len,
                              const esnn_proto_mem_t *mem);
/* Send the boot announcement: INFO with request id NO_ID. */
void esnn_proto_announce(esnn_proto_t *p);
/* Process received bytes; every complete frame gets its reply through port->write before this returns. */
void esnn_proto_feed(esnn_proto_t *p, const uint8_t *data, size_t n);
/* Bytes of a frame in an encoding (0 for an unknown encoding). */
size_t esnn_proto_frame_bytes(size_t values, uint8_t encoding);

#ifdef __cplusplus
}
#endif
#endif /* ESNN_PROTO_H */
