#include "logic.h"

void esnn_logic_ref(uint8_t mode, const esnn_buffer_t *buf, const uint32_t *a, const uint32_t *b, uint32_t *y) {
    uint32_t p, c, npix = (uint32_t)buf->h * buf->w;
    for (p = 0; p < npix; p++)
        for (c = 0; c < buf->c; c++) {
            uint32_t i = p * buf->cw + c / 32, s = c % 32;
            uint32_t av = (a[i] >> s) & 1u, bv = (b[i] >> s) & 1u, r;
            r = mode == ESNN_LOGIC_OR ? (av | bv) : mode == ESNN_LOGIC_AND ? (av & bv) : ((1u - av) & bv);
            if (s == 0) y[i] = 0;
            y[i] |= r << s;
        }
}

void esnn_logic(uint8_t mode, const esnn_buffer_t *buf, const uint32_t *a, const uint32_t *b, uint32_t *y) {
    uint32_t i, n = buf->words;
    if (mode == ESNN_LOGIC_OR)
        for (i = 0; i < n; i++) y[i] = a[i] | b[i];
    else if (mode == ESNN_LOGIC_AND)
        for (i = 0; i < n; i++) y[i] = a[i] & b[i];
    else
        for (i = 0; i < n; i++) y[i] = ~a[i] & b[i];
}
