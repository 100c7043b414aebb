/*
 * board_main.c - the board loop shared by the microcontroller ports: load the model linked into flash
 * into a static arena sized from the model (board_config.h), announce INFO, then feed every UART byte
 * to the protocol (firmware/protocol). Replies go out through board_uart_putc. No heap, no stdio.
 * Modelled on the host board (ports/host/main.c); the only static storage of a port lives here.
 */
#include "board.h"
#include "board_config.h"
#include "esnn_proto.h"

#if BOARD_MAX_PAYLOAD < 8 || BOARD_MAX_PAYLOAD > 65535
#error "BOARD_MAX_PAYLOAD must be in 8..65535"
#endif
#if BOARD_TX_BYTES < 86
#error "BOARD_TX_BYTES must hold an INFO packet (86 bytes)"
#endif

static uint64_t g_arena[(BOARD_ARENA_BYTES + 7u) / 8u];
static uint8_t g_input[BOARD_INPUT_BYTES > 0 ? BOARD_INPUT_BYTES : 1];
static uint8_t g_rx[ESNN_PROTO_OVERHEAD + BOARD_MAX_PAYLOAD];
static uint8_t g_tx[BOARD_TX_BYTES];
static esnn_proto_t g_proto;
static esnn_port_t g_port;

static void uart_write(void *user, const uint8_t *data, size_t len) {
    (void)user;
    while (len-- > 0) board_uart_putc(*data++);
}

static uint64_t work_counter(void *user) {
    (void)user;
    return board_counter();
}

int main(void) {
    esnn_proto_mem_t mem;
    uint8_t buf[64];
    board_uart_init();
    g_port.write = uart_write;
    g_port.counter_kind = board_counter_kind();
    g_port.counter = g_port.counter_kind == ESNN_COUNTER_NONE ? NULL : work_counter;
    g_port.device_name = board_name;
    g_port.user = NULL;
    mem.rx = g_rx;
    mem.rx_cap = sizeof g_rx;
    mem.tx = g_tx;
    mem.tx_cap = sizeof g_tx;
    mem.input = g_input;
    mem.input_cap = sizeof g_input;
    mem.arena = g_arena;
    mem.arena_cap = sizeof g_arena;
    mem.options = BOARD_ARENA_OPTIONS; /* ESNN_OPT_FAST when built with an arena budget */
    /* A model that does not load (corrupted flash, arena too small) is reported in INFO's model_status. */
    (void)esnn_proto_init(&g_proto, &g_port, esnn_model, (size_t)(esnn_model_end - esnn_model), &mem);
    esnn_proto_announce(&g_proto);
    for (;;) {
        size_t n = 0;
        /* Drain what is waiting (a one-byte holding register on most UARTs), then feed it in one call. */
        while (n < sizeof buf && board_uart_getc(&buf[n])) n++;
        if (n > 0)
            esnn_proto_feed(&g_proto, buf, n);
        else
            board_idle();
    }
}
