/*
 * mps2-an386 drivers of the protocol board (DESIGN.md 5a): CMSDK APB UART0 by polling, and the work counter
 * from the CMSDK dual timer.
 *
 * Idle: the main loop sleeps in WFI until UART0's RX interrupt is pending (enabled in the UART and the
 * NVIC, masked by PRIMASK: no handler runs, the pending state only wakes the core). Under QEMU this is
 * what keeps host -> board bytes flowing: a busy-polling guest holds the emulator's lock, and each byte
 * then waits for QEMU's periodic vCPU kick; a halted guest lets the byte in at once.
 *
 * Counter: timer 1 free-running, 32-bit, at the 25 MHz peripheral clock of QEMU's virtual clock. Under
 * `-icount shift=7` every guest instruction advances the virtual clock by 128 ns exactly, so
 * instructions = ceil(ticks * 40 / 128) and RESULT counts guest instructions (counter_kind 1). Without
 * icount the virtual clock is the host's wall clock: the counter is then ticks * 40 ns (counter_kind 3).
 * Which of the two holds is measured at boot on a loop of known length. Wraps of the 32-bit timer are
 * folded into a 64-bit total at every read (a read at least every 2^32 ticks is enough: 1.3 G instructions).
 */
#include "board.h"
#include "esnn_proto.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define UART0_DATA REG(0x40004000u)
#define UART0_STATE REG(0x40004004u)
#define UART0_CTRL REG(0x40004008u)
#define UART0_INTCLEAR REG(0x4000400Cu)
#define UART0_BAUDDIV REG(0x40004010u)
#define UART_TXFULL 1u
#define UART_RXFULL 2u
#define UART_CTRL_TX_RX 3u
#define UART_CTRL_RX_INTEN 8u
#define UART_INT_RX 2u
#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ICPR0 REG(0xE000E280u)
#define UART0_RX_IRQ 0u

#define TIMER1_LOAD REG(0x40002000u)
#define TIMER1_VALUE REG(0x40002004u)
#define TIMER1_CTRL REG(0x40002008u)
#define TIMER_ENABLE_32BIT 0x82u

#define CALIB_LOOPS 10000u

const char board_name[] = "qemu-mps2-an386";

static uint32_t g_last_raw;
static uint64_t g_ticks;
static uint8_t g_kind = ESNN_COUNTER_NONE;

static uint64_t ticks(void) {
    uint32_t raw = TIMER1_VALUE; /* counts down */
    g_ticks += (uint32_t)(g_last_raw - raw);
    g_last_raw = raw;
    return g_ticks;
}

/* Timer ticks over a loop of 2 * CALIB_LOOPS + a few instructions. */
static uint32_t calibrate(void) {
    uint32_t n = CALIB_LOOPS, a, b;
    a = TIMER1_VALUE;
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    b = TIMER1_VALUE;
    return a - b;
}

void board_uart_init(void) {
    uint32_t d, instructions;
    UART0_BAUDDIV = 16u;
    __asm__ volatile("cpsid i" : : : "memory");
    /* TX_EN | RX_EN (TX_EN = 0 would make putc hang), RX interrupt as the WFI wake-up */
    UART0_CTRL = UART_CTRL_TX_RX | UART_CTRL_RX_INTEN;
    NVIC_ISER0 = 1u << UART0_RX_IRQ;
    /* A read of DATA makes QEMU accept input again: while RX was disabled (at power-on and after a
     * reset) its chardev stopped polling the host socket, and enabling RX through CTRL does not restart
     * it, so without this read the first host bytes could wait forever. Harmless on hardware. */
    (void)UART0_DATA;
    TIMER1_CTRL = 0u;
    TIMER1_LOAD = 0xFFFFFFFFu;
    TIMER1_CTRL = TIMER_ENABLE_32BIT;
    g_last_raw = TIMER1_VALUE;
    d = calibrate();
    instructions = (d * 5u + 15u) / 16u;
    g_kind = (instructions >= 2u * CALIB_LOOPS && instructions <= 2u * CALIB_LOOPS + 16u)
                 ? ESNN_COUNTER_INSTRUCTIONS
                 : ESNN_COUNTER_NANOSECONDS;
}

int board_uart_getc(uint8_t *c) {
    if (!(UART0_STATE & UART_RXFULL)) return 0;
    *c = (uint8_t)UART0_DATA;
    return 1;
}

void board_idle(void) {
    UART0_INTCLEAR = UART_INT_RX;
    NVIC_ICPR0 = 1u << UART0_RX_IRQ;
    __asm__ volatile("dsb" : : : "memory");
    if (UART0_STATE & UART_RXFULL) return; /* arrived before the clear: its interrupt is gone */
    __asm__ volatile("wfi" : : : "memory");
}

void board_uart_putc(uint8_t c) {
    while (UART0_STATE & UART_TXFULL) {
    }
    UART0_DATA = c;
}

uint64_t board_counter(void) {
    uint64_t t = ticks();
    return g_kind == ESNN_COUNTER_INSTRUCTIONS ? (t * 5u + 15u) / 16u : t * 40u;
}

uint8_t board_counter_kind(void) { return g_kind; }
