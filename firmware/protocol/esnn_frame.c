/* esnn_frame.c - COBS and error strings of the serial protocol (firmware/PROTOCOL.md). */
#include "esnn_frame.h"

#define ESNN_PERR_TEXT_(name, value, text) \
    case value:                            \
        return text;

const char *esnn_perr_str(uint8_t code) {
    switch (code) {
        ESNN_PERR_LIST(ESNN_PERR_TEXT_)
    default:
        return "unknown error";
    }
}
#undef ESNN_PERR_TEXT_

void esnn_cobs_rx_init(esnn_cobs_rx_t *rx, uint8_t *buf, size_t cap) {
    rx->buf = buf;
    rx->cap = cap;
    rx->len = 0;
    rx->code = 0;
    rx->left = 0;
    rx->started = 0;
}

static void put(esnn_cobs_rx_t *rx, uint8_t b) {
    if (rx->len < rx->cap) rx->buf[rx->len] = b;
    if (rx->len <= rx->cap) rx->len++; /* stops at cap + 1: enough to say "oversize", no overflow */
}

esnn_cobs_event_t esnn_cobs_rx_byte(esnn_cobs_rx_t *rx, uint8_t b) {
    esnn_cobs_event_t ev;
    if (b != 0) {
        if (rx->left == 0) { /* a code byte: the previous block (if not a full 0xFF block) implied a zero */
            if (!rx->started)
                rx->len = 0;
            else if (rx->code != 0xFFu)
                put(rx, 0);
            rx->code = b;
            rx->left = (uint8_t)(b - 1u);
            rx->started = 1;
        } else {
            put(rx, b);
            rx->left--;
        }
        return ESNN_COBS_MORE;
    }
    if (!rx->started)
        ev = ESNN_COBS_EMPTY;
    else if (rx->len > rx->cap)
        ev = ESNN_COBS_OVERSIZE;
    else if (rx->left != 0)
        ev = ESNN_COBS_ERROR;
    else
        ev = ESNN_COBS_FRAME;
    rx->code = 0;
    rx->left = 0;
    rx->started = 0;
    if (ev == ESNN_COBS_EMPTY) rx->len = 0; /* otherwise the caller reads len; the next code byte restarts */
    return ev;
}

void esnn_cobs_write(const uint8_t *data, size_t n, esnn_write_fn write, void *user) {
    size_t i = 0;
    static const uint8_t zero = 0;
    for (;;) {
        size_t j = i;
        uint8_t code;
        while (j < n && data[j] != 0 && j - i < 254u) j++;
        code = (uint8_t)(j - i + 1u);
        write(user, &code, 1);
        if (j > i) write(user, data + i, j - i);
        if (j == n) break;
        i = (code == 0xFFu) ? j : j + 1u;
    }
    write(user, &zero, 1);
}
