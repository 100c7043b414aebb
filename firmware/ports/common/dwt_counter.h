/* The Armv7-M DWT cycle counter as a board's counter (counter_kind ESNN_COUNTER_CYCLES): boards on real
 * Cortex-M3/M4/M7 parts add common/dwt_counter.c to PORT_SRC and call dwt_counter_init() in board_uart_init;
 * the file defines board_counter() and board_counter_kind(). */
#ifndef ESNN_DWT_COUNTER_H
#define ESNN_DWT_COUNTER_H
void dwt_counter_init(void);
#endif
