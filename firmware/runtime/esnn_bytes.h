/* esnn_bytes.h - little-endian readers and writers and CRC32, shared by the runtime (the .esnn blob) and the
 * serial protocol (its packets): one copy of each. The data may be unaligned and the host big-endian. */
#ifndef ESNN_BYTES_H
#define ESNN_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t esnn_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t esnn_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t esnn_rd64(const uint8_t *p) {
    return (uint64_t)esnn_rd32(p) | ((uint64_t)esnn_rd32(p + 4) << 32);
}
static inline void esnn_wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}
static inline void esnn_wr32(uint8_t *p, uint32_t v) {
    esnn_wr16(p, (uint16_t)(v & 0xFFFFu));
    esnn_wr16(p + 2, (uint16_t)(v >> 16));
}

/* CRC32 (IEEE 802.3, as zlib.crc32; runtime/esnn_bytes.c). Chain calls with crc = the previous result; start
 * with 0. */
uint32_t esnn_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif /* ESNN_BYTES_H */
