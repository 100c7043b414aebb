/* fuzz_protocol.c - libFuzzer harness: the device side of the serial protocol (firmware/protocol).
 *
 * A board with a real model (ESNN_FUZZ_MODEL, a .esnn file; the tests use a conformance vector) receives the
 * input as bytes from the host, in pieces whose sizes come from the input itself, as a UART delivers them.
 * Every reply must be a COBS frame that decodes to a whole packet with its CRC, within the transmit buffer; ASan +
 * UBSan catch memory errors in the frame decoder, the request handlers and the runtime behind them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esnn_bytes.h"
#include "esnn_frame.h"
#include "esnn_proto.h"

#define RX_CAP 4096u
#define TX_CAP 4096u
#define INPUT_CAP (64u << 10)
#define ARENA_CAP (1u << 20)

static uint8_t *g_blob, g_rx[RX_CAP], g_tx[TX_CAP], g_input[INPUT_CAP];
static uint64_t g_arena[ARENA_CAP / 8];
static long g_blob_len;

/* Replies arrive in pieces (esnn_cobs_write); each 0x00 ends a frame, which must decode (COBS) to a packet
 * of a header, its payload and a matching CRC32 that fits the transmit buffer. */
static uint8_t g_frame[2u * TX_CAP], g_packet[2u * TX_CAP];
static size_t g_frame_len;

static void check_frame(void) {
    size_t i = 0, n = 0, len;
    while (i < g_frame_len) { /* COBS decode */
        const uint8_t code = g_frame[i++];
        size_t k;
        if (code == 0 || i + code - 1u > g_frame_len) __builtin_trap();
        for (k = 1; k < code; k++) g_packet[n++] = g_frame[i++];
        if (code != 0xFFu && i < g_frame_len) g_packet[n++] = 0;
    }
    if (n < ESNN_PROTO_HEADER + 4u || n > TX_CAP) __builtin_trap();
    len = (size_t)g_packet[4] | (size_t)g_packet[5] << 8; /* payload length */
    if (ESNN_PROTO_HEADER + len + 4u != n) __builtin_trap();
    if (esnn_crc32(0, g_packet, n - 4u) != esnn_rd32(g_packet + n - 4u)) __builtin_trap();
    g_frame_len = 0;
}

static void write_reply(void *user, const uint8_t *data, size_t n) {
    size_t i;
    (void)user;
    for (i = 0; i < n; i++) {
        if (data[i] == 0) {
            check_frame();
            continue;
        }
        if (g_frame_len == sizeof g_frame) __builtin_trap(); /* a reply larger than any the buffers allow */
        g_frame[g_frame_len++] = data[i];
    }
}

static uint64_t counter(void *user) {
    static uint64_t t;
    (void)user;
    return t += 1000u;
}

/* esnn_cobs_write's sink here: the encoded request goes straight into the device's receiver */
static void feed_bytes(void *user, const uint8_t *data, size_t n) { esnn_proto_feed((esnn_proto_t *)user, data, n); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("ESNN_FUZZ_MODEL");
    FILE *f;
    (void)argc;
    (void)argv;
    if (!path || !(f = fopen(path, "rb"))) {
        fprintf(stderr, "fuzz_protocol: set ESNN_FUZZ_MODEL to a .esnn file\n");
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    g_blob_len = ftell(f);
    fseek(f, 0, SEEK_SET);
    g_blob = (uint8_t *)malloc((size_t)g_blob_len);
    if (!g_blob || fread(g_blob, 1, (size_t)g_blob_len, f) != (size_t)g_blob_len) exit(2);
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const esnn_port_t port = {write_reply, counter, ESNN_COUNTER_INSTRUCTIONS, "fuzz", NULL};
    esnn_proto_mem_t mem = {g_rx, RX_CAP, g_tx, TX_CAP, g_input, INPUT_CAP, g_arena, sizeof g_arena, 0};
    esnn_proto_t p;
    size_t pos = 0;
    if (esnn_proto_init(&p, &port, g_blob, (size_t)g_blob_len, &mem) != ESNN_OK) __builtin_trap();
    esnn_proto_announce(&p);
    if (size && (data[0] & 1u)) { /* raw bytes, in pieces of 1 + the low 6 bits of each piece's first byte */
        while (pos < size) {
            size_t n = 1u + (data[pos] & 63u);
            if (n > size - pos) n = size - pos;
            esnn_proto_feed(&p, data + pos, n);
            pos += n;
        }
        return 0;
    }
    /* packets: type, request id, payload length L (one byte), L payload bytes; framed as the host does
     * (header, payload, CRC32, COBS, 0x00) so that the fuzzer reaches the request handlers, not only the CRC */
    pos = size ? 1u : 0u;
    while (pos + 3u <= size) {
        static uint8_t pkt[ESNN_PROTO_HEADER + 255u + 4u];
        const size_t len = data[pos + 2u] <= size - pos - 3u ? data[pos + 2u] : size - pos - 3u;
        uint32_t crc;
        pkt[0] = 1u; /* protocol version */
        pkt[1] = data[pos];
        pkt[2] = data[pos + 1u];
        pkt[3] = 0u;
        pkt[4] = (uint8_t)len;
        pkt[5] = 0u;
        memcpy(pkt + ESNN_PROTO_HEADER, data + pos + 3u, len);
        crc = esnn_crc32(0, pkt, ESNN_PROTO_HEADER + len);
        pkt[ESNN_PROTO_HEADER + len] = (uint8_t)crc;
        pkt[ESNN_PROTO_HEADER + len + 1u] = (uint8_t)(crc >> 8);
        pkt[ESNN_PROTO_HEADER + len + 2u] = (uint8_t)(crc >> 16);
        pkt[ESNN_PROTO_HEADER + len + 3u] = (uint8_t)(crc >> 24);
        esnn_cobs_write(pkt, ESNN_PROTO_HEADER + len + 4u, feed_bytes, &p);
        pos += 3u + len;
    }
    return 0;
}
