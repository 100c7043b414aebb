/* esnn_proto.c - device side of the serial protocol: parser checks and dispatcher (firmware/PROTOCOL.md). */
#include "esnn_proto.h"

#include <string.h>

#include "esnn_format.h" /* ESNN_FLAG_LAYER_MAJOR */

#define H ESNN_PROTO_HEADER
#define RESULT_FIXED 16u

size_t esnn_proto_frame_bytes(size_t values, uint8_t encoding) {
    if (encoding == ESNN_ENC_U8) return values;
    if (encoding == ESNN_ENC_BITS) return (values + 7u) / 8u;
    return 0;
}

static uint64_t counter_now(const esnn_proto_t *p) {
    return p->port->counter ? p->port->counter(p->port->user) : 0u;
}

/* Finish the packet in buf (header + payload of n bytes), send it; returns its size. */
static size_t send_packet(esnn_proto_t *p, uint8_t *buf, uint8_t type, uint16_t id, size_t n) {
    buf[0] = (uint8_t)ESNN_PROTO_VERSION;
    buf[1] = type;
    esnn_wr16(buf + 2, id);
    esnn_wr16(buf + 4, (uint16_t)n);
    esnn_wr32(buf + H + n, esnn_crc32(0, buf, H + n));
    esnn_cobs_write(buf, H + n + 4u, p->port->write, p->port->user);
    return H + n + 4u;
}

/* A reply to a trusted request: built in tx, kept for retransmission. */
static void reply(esnn_proto_t *p, uint8_t type, uint16_t id, uint32_t req_crc, size_t n) {
    p->tx_len = send_packet(p, p->mem.tx, type, id, n);
    p->last_id = id;
    p->last_crc = req_crc;
    p->have_last = 1;
}

static size_t error_payload(uint8_t *pl, uint8_t code, uint8_t detail, uint16_t aux) {
    const char *msg = esnn_perr_str(code);
    size_t len = strlen(msg);
    if (len > ESNN_PROTO_MSG_MAX) len = ESNN_PROTO_MSG_MAX;
    pl[0] = code;
    pl[1] = detail;
    esnn_wr16(pl + 2, aux);
    memcpy(pl + 4, msg, len);
    return 4u + len;
}

/* ERROR for a frame whose header cannot be trusted: own small buffer, request id NO_ID, not remembered. */
static void error_untrusted(esnn_proto_t *p, uint8_t code, size_t aux) {
    uint8_t buf[ESNN_PROTO_OVERHEAD + ESNN_PROTO_ERROR_MAX];
    size_t n = error_payload(buf + H, code, 0, (uint16_t)(aux > 0xFFFFu ? 0xFFFFu : aux));
    send_packet(p, buf, (uint8_t)ESNN_MSG_ERROR, (uint16_t)ESNN_PROTO_NO_ID, n);
    p->stats.errors++;
}

static void error_reply(esnn_proto_t *p, uint16_t id, uint32_t crc, uint8_t code, uint8_t detail, size_t aux) {
    size_t n = error_payload(p->mem.tx + H, code, detail, (uint16_t)(aux > 0xFFFFu ? 0xFFFFu : aux));
    reply(p, (uint8_t)ESNN_MSG_ERROR, id, crc, n);
    p->stats.errors++;
}

static size_t info_payload(const esnn_proto_t *p, uint8_t *pl) {
    const char *name = p->port->device_name ? p->port->device_name : "";
    size_t name_len = strlen(name);
    uint16_t fmaj, fmin;
    int ok = p->model_status == ESNN_OK;
    if (name_len > ESNN_PROTO_NAME_MAX) name_len = ESNN_PROTO_NAME_MAX;
    memset(pl, 0, 44);
    esnn_format_versions(&fmaj, &fmin);
    pl[0] = (uint8_t)ESNN_PROTO_VERSION;
    pl[1] = ESNN_VERSION_MAJOR;
    pl[2] = ESNN_VERSION_MINOR;
    pl[3] = ESNN_VERSION_PATCH;
    esnn_wr16(pl + 4, fmaj);
    esnn_wr16(pl + 6, fmin);
    esnn_wr16(pl + 8, p->max_payload);
    pl[10] = (uint8_t)p->model_status;
    pl[11] = p->port->counter ? p->port->counter_kind : (uint8_t)ESNN_COUNTER_NONE;
    esnn_wr32(pl + 16, (uint32_t)p->blob_len);
    if (ok) { /* what the runtime read from the blob header (its API, not the bytes again) */
        uint16_t c, h, w;
        esnn_input_shape(&p->rt, &c, &h, &w);
        esnn_wr32(pl + 12, esnn_blob_crc(&p->rt));
        esnn_wr32(pl + 20, (uint32_t)esnn_arena_used(&p->rt));
        esnn_wr32(pl + 24, esnn_flags(&p->rt));
        esnn_wr16(pl + 28, esnn_num_steps(&p->rt));
        esnn_wr16(pl + 30, esnn_num_classes(&p->rt));
        esnn_wr16(pl + 32, esnn_num_lif(&p->rt));
        esnn_wr16(pl + 34, p->frames);
        esnn_wr16(pl + 36, c);
        esnn_wr16(pl + 38, h);
        esnn_wr16(pl + 40, w);
    }
    pl[42] = (uint8_t)ESNN_ENC_MASK;
    pl[43] = (uint8_t)name_len;
    memcpy(pl + 44, name, name_len);
    return 44u + name_len;
}

esnn_status_t esnn_proto_init(esnn_proto_t *p, const esnn_port_t *port, const uint8_t *blob, size_t blob_len,
                              const esnn_proto_mem_t *mem) {
    size_t max_payload;
    memset(p, 0, sizeof *p);
    if (!port || !port->write || !mem || !mem->rx || !mem->tx || mem->rx_cap < ESNN_PROTO_OVERHEAD + 8u ||
        mem->tx_cap < ESNN_PROTO_OVERHEAD + ESNN_PROTO_INFO_MAX)
        return ESNN_ERR_ARG;
    p->port = port;
    p->mem = *mem;
    p->blob = blob;
    p->blob_len = blob ? blob_len : 0u;
    max_payload = mem->rx_cap - ESNN_PROTO_OVERHEAD;
    p->max_payload = (uint16_t)(max_payload > 0xFFFFu ? 0xFFFFu : max_payload);
    esnn_cobs_rx_init(&p->cobs, mem->rx, ESNN_PROTO_OVERHEAD + (size_t)p->max_payload);
    p->model_status = blob ? esnn_init_ex(&p->rt, blob, blob_len, mem->arena, mem->arena ? mem->arena_cap : 0u,
                                          mem->options)
                           : ESNN_ERR_ARG;
    if (p->model_status == ESNN_OK) {
        size_t result = RESULT_FIXED + 4u * ((size_t)esnn_num_classes(&p->rt) + esnn_num_lif(&p->rt));
        p->frame_size = esnn_frame_size(&p->rt);
        p->frames = esnn_input_frames(&p->rt);
        /* the board's buffers must hold a whole sample and the largest RESULT */
        if (!mem->input || (uint64_t)mem->input_cap < (uint64_t)p->frame_size * p->frames ||
            mem->tx_cap < ESNN_PROTO_OVERHEAD + result)
            p->model_status = ESNN_ERR_LIMIT;
    }
    return p->model_status;
}

void esnn_proto_announce(esnn_proto_t *p) {
    uint8_t buf[ESNN_PROTO_OVERHEAD + ESNN_PROTO_INFO_MAX];
    size_t n = info_payload(p, buf + H);
    send_packet(p, buf, (uint8_t)ESNN_MSG_INFO, (uint16_t)ESNN_PROTO_NO_ID, n);
}

/* Decode one frame of `enc` data into dst (frame_size u8 values); 0 if BITS padding bits are set. */
static int decode_frame(const esnn_proto_t *p, const uint8_t *src, uint8_t enc, uint8_t *dst) {
    size_t i, n = p->frame_size;
    if (enc == ESNN_ENC_U8) {
        memcpy(dst, src, n);
        return 1;
    }
    for (i = 0; i < n; i++) dst[i] = (uint8_t)((src[i >> 3] >> (i & 7u)) & 1u);
    return (n & 7u) == 0 || (src[n >> 3] >> (n & 7u)) == 0;
}

static void send_result(esnn_proto_t *p, uint16_t id, uint32_t crc) {
    uint8_t *pl = p->mem.tx + H;
    const int32_t *logits = esnn_logits(&p->rt);
    const uint32_t *spikes = esnn_spike_counts(&p->rt);
    uint16_t i, nc = esnn_num_classes(&p->rt), nl = esnn_num_lif(&p->rt);
    esnn_wr16(pl, (uint16_t)esnn_predicted(&p->rt));
    esnn_wr16(pl + 2, nc);
    esnn_wr16(pl + 4, nl);
    pl[6] = p->port->counter ? p->port->counter_kind : (uint8_t)ESNN_COUNTER_NONE;
    pl[7] = 0;
    esnn_wr32(pl + 8, (uint32_t)(p->work & 0xFFFFFFFFu));
    esnn_wr32(pl + 12, (uint32_t)(p->work >> 32));
    for (i = 0; i < nc; i++) esnn_wr32(pl + RESULT_FIXED + 4u * i, (uint32_t)logits[i]);
    for (i = 0; i < nl; i++) esnn_wr32(pl + RESULT_FIXED + 4u * ((size_t)nc + i), spikes[i]);
    reply(p, (uint8_t)ESNN_MSG_RESULT, id, crc, RESULT_FIXED + 4u * ((size_t)nc + nl));
}

static void send_ack(esnn_proto_t *p, uint16_t id, uint32_t crc) {
    esnn_wr16(p->mem.tx + H, p->next_frame);
    esnn_wr16(p->mem.tx + H + 2, p->frames);
    reply(p, (uint8_t)ESNN_MSG_ACK, id, crc, 4u);
}

/* Run a runtime call's result: RUNTIME error (sample abandoned) or nothing. */
static int runtime_failed(esnn_proto_t *p, esnn_status_t st, uint16_t id, uint32_t crc) {
    if (st == ESNN_OK) return 0;
    p->next_frame = 0;
    error_reply(p, id, crc, (uint8_t)ESNN_PERR_RUNTIME, (uint8_t)st, 0);
    return 1;
}

static void on_frame(esnn_proto_t *p, const uint8_t *pl, size_t n, uint16_t id, uint32_t crc) {
    uint16_t index = esnn_rd16(pl);
    uint8_t enc = pl[2];
    size_t fb = esnn_proto_frame_bytes(p->frame_size, enc);
    int layer_major = (esnn_flags(&p->rt) & ESNN_FLAG_LAYER_MAJOR) != 0;
    int stepwise = !layer_major && p->frames > 1u;
    uint64_t t0;
    esnn_status_t st = ESNN_OK;
    if (fb == 0 || pl[3] != 0 || n != 4u + fb) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_BAD_PAYLOAD, enc, 4u + fb);
        return;
    }
    if (index != 0 && index != p->next_frame) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_BAD_SEQUENCE, 0, p->next_frame);
        return;
    }
    if (!decode_frame(p, pl + 4, enc, p->mem.input + (stepwise ? 0u : (size_t)index * p->frame_size))) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_BAD_PAYLOAD, enc, 4u + fb);
        return;
    }
    if (index == 0) p->work = 0;
    t0 = counter_now(p);
    if (stepwise) {
        if (index == 0) st = esnn_reset(&p->rt);
        if (st == ESNN_OK) st = esnn_step(&p->rt, p->mem.input, p->frame_size);
    } else if (index + 1u == p->frames) {
        st = esnn_run(&p->rt, p->mem.input, p->frame_size * p->frames);
    }
    p->work += counter_now(p) - t0;
    if (runtime_failed(p, st, id, crc)) return;
    if (index + 1u == p->frames) {
        p->next_frame = 0;
        send_result(p, id, crc);
    } else {
        p->next_frame = (uint16_t)(index + 1u);
        send_ack(p, id, crc);
    }
}

static void on_sample(esnn_proto_t *p, const uint8_t *pl, size_t n, uint16_t id, uint32_t crc) {
    uint8_t enc = pl[0];
    size_t fb = esnn_proto_frame_bytes(p->frame_size, enc), t;
    uint64_t t0;
    esnn_status_t st;
    p->next_frame = 0;
    if (fb == 0 || pl[1] != 0 || pl[2] != 0 || pl[3] != 0 || (uint64_t)n != 4u + (uint64_t)fb * p->frames) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_BAD_PAYLOAD, enc, 4u + fb * p->frames);
        return;
    }
    for (t = 0; t < p->frames; t++) {
        if (!decode_frame(p, pl + 4 + t * fb, enc, p->mem.input + t * p->frame_size)) {
            error_reply(p, id, crc, (uint8_t)ESNN_PERR_BAD_PAYLOAD, enc, 4u + fb * p->frames);
            return;
        }
    }
    t0 = counter_now(p);
    st = esnn_run(&p->rt, p->mem.input, p->frame_size * p->frames);
    p->work = counter_now(p) - t0;
    if (runtime_failed(p, st, id, crc)) return;
    send_result(p, id, crc);
}

static void on_packet(esnn_proto_t *p, size_t len) {
    const uint8_t *b = p->mem.rx;
    uint16_t id, n;
    uint32_t crc;
    uint8_t type;
    if (len < ESNN_PROTO_OVERHEAD) {
        error_untrusted(p, (uint8_t)ESNN_PERR_FRAMING, len);
        return;
    }
    crc = esnn_rd32(b + len - 4u);
    if (crc != esnn_crc32(0, b, len - 4u)) {
        error_untrusted(p, (uint8_t)ESNN_PERR_BAD_CRC, len);
        return;
    }
    p->stats.frames_ok++;
    type = b[1];
    id = esnn_rd16(b + 2);
    n = esnn_rd16(b + 4);
    if (p->have_last && id == p->last_id && crc == p->last_crc) { /* a retransmission: same reply again */
        esnn_cobs_write(p->mem.tx, p->tx_len, p->port->write, p->port->user);
        p->stats.resent++;
        return;
    }
    if (b[0] != ESNN_PROTO_VERSION) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_BAD_VERSION, (uint8_t)ESNN_PROTO_VERSION, 0);
    } else if ((size_t)n != len - ESNN_PROTO_OVERHEAD) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_BAD_LENGTH, 0, n);
    } else if (type == ESNN_MSG_HELLO) {
        reply(p, (uint8_t)ESNN_MSG_INFO, id, crc, info_payload(p, p->mem.tx + H));
    } else if (type != ESNN_MSG_RESET && type != ESNN_MSG_FRAME && type != ESNN_MSG_SAMPLE) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_UNKNOWN_TYPE, type, 0);
    } else if (type == ESNN_MSG_RESET ? n != 0 : n < 4u) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_BAD_PAYLOAD, 0, type == ESNN_MSG_RESET ? 0u : 4u);
    } else if (p->model_status != ESNN_OK) {
        error_reply(p, id, crc, (uint8_t)ESNN_PERR_NO_MODEL, (uint8_t)p->model_status, 0);
    } else if (type == ESNN_MSG_RESET) {
        p->next_frame = 0;
        p->work = 0;
        if (!runtime_failed(p, esnn_reset(&p->rt), id, crc)) send_ack(p, id, crc);
    } else if (type == ESNN_MSG_FRAME) {
        on_frame(p, b + H, n, id, crc);
    } else {
        on_sample(p, b + H, n, id, crc);
    }
}

void esnn_proto_feed(esnn_proto_t *p, const uint8_t *data, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        switch (esnn_cobs_rx_byte(&p->cobs, data[i])) {
        case ESNN_COBS_FRAME:
            on_packet(p, p->cobs.len);
            break;
        case ESNN_COBS_OVERSIZE:
            error_untrusted(p, (uint8_t)ESNN_PERR_OVERSIZE, p->max_payload);
            break;
        case ESNN_COBS_ERROR:
            error_untrusted(p, (uint8_t)ESNN_PERR_FRAMING, p->cobs.len);
            break;
        default:
            break;
        }
    }
}
