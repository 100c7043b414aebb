/*
 * board.h - what a microcontroller port provides to the shared board main (board_main.c): the edgesnn
 * serial protocol (firmware/PROTOCOL.md) served over one UART, with the model linked into flash.
 *
 * A port supplies: startup code (vector table, .data copy, .bss clear, FPU enable, then main()), a linker
 * script with the part's real flash/RAM sizes, these functions, and compiles board_main.c with
 * -I<build dir holding board_config.h> (generated from the model by tools/board_config.c):
 *
 *     BOARD_ARENA_BYTES   esnn_arena_required() of the model (+ 8 for alignment slack), or the arena budget
 *     BOARD_ARENA_OPTIONS 0 (the lean plan), or ESNN_OPT_FAST with a budget (the plan spends the arena on speed)
 *     BOARD_INPUT_BYTES   frames * C*H*W        the sample's u8 frames
 *     BOARD_MAX_PAYLOAD   largest request payload accepted (one whole U8 sample when it fits the cap)
 *     BOARD_TX_BYTES      10 + largest reply payload of this model
 *
 * The model blob is the symbol esnn_model .. esnn_model_end (model_blob.S, .incbin of the .esnn file).
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Set up clocks/pins as needed and the UART (8N1, RX and TX enabled, polling). */
void board_uart_init(void);
/* One received byte in *c: 1, or 0 when none is waiting (never blocks). */
int board_uart_getc(uint8_t *c);
/* Sleep until a byte may be waiting (e.g. WFI with the UART's RX interrupt as the wake-up event, masked
 * by PRIMASK so no handler runs), or return at once; called when board_uart_getc found nothing. */
void board_idle(void);
/* Send one byte (blocks while the transmitter is full). */
void board_uart_putc(uint8_t c);
/* A free-running 64-bit work counter for RESULT (NULL-able: return 0 and kind NONE). */
uint64_t board_counter(void);
/* ESNN_COUNTER_* of board_counter(); may be decided at boot (board_uart_init runs first). */
uint8_t board_counter_kind(void);
/* The device profile name reported in INFO (the stem of a .toml file in devices/). */
extern const char board_name[];

/* The model linked into flash (model_blob.S). */
extern const uint8_t esnn_model[];
extern const uint8_t esnn_model_end[];

#endif /* BOARD_H */
