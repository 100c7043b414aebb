/* esnn_bytes.c - CRC32 of the blob (loader.c) and of the protocol's packets (protocol/esnn_proto.c). */
#include "esnn_bytes.h"

/* Nibble table in flash (64 B). */
uint32_t esnn_crc32(uint32_t crc, const uint8_t *p, size_t n) {
    static const uint32_t tab[16] = {0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
                                     0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
                                     0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    size_t i;
    crc ^= 0xFFFFFFFFu;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ tab[crc & 15u];
        crc = (crc >> 4) ^ tab[crc & 15u];
    }
    return crc ^ 0xFFFFFFFFu;
}
