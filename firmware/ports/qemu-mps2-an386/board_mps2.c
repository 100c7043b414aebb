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

#define SCB_ICSR REG(0xE000ED04u)
#define SCB_CFSR REG(0xE000ED28u)
#define SCB_HFSR REG(0xE000ED2Cu)
#define SCB_MMFAR REG(0xE000ED34u)
#define SCB_BFAR REG(0xE000ED38u)
#define CFSR_MSTKERR (1u << 4)
#define CFSR_MMARVALID (1u << 7)
#define CFSR_STKERR (1u << 12)
#define CFSR_BFARVALID (1u << 15)
#define SEMIHOSTING_SYS_WRITE0 0x04u
#define SEMIHOSTING_SYS_EXIT_EXTENDED 0x20u
#define FAULT_EXIT_STATUS 99u

extern const uint8_t __stack_guard[], __StackLimit[], __StackTop[];
void board_fault(void);

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

static uint32_t semihosting(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static char *put_str(char *p, const char *s) {
    while (*s) *p++ = *s++;
    return p;
}

static char *put_hex(char *p, uint32_t v) {
    int i;
    *p++ = '0';
    *p++ = 'x';
    for (i = 28; i >= 0; i -= 4) *p++ = "0123456789abcdef"[(v >> i) & 0xFu];
    return p;
}

static char *put_dec(char *p, uint32_t v) {
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) *p++ = digits[--n];
    return p;
}

/* An address in the stack guard (the 64 KiB below the stack, which opens RAM). */
static int below_stack(uint32_t addr) {
    return addr >= (uint32_t)__stack_guard && addr < (uint32_t)__StackLimit;
}

void board_fault(void) {
    static char msg[200];
    const uint32_t cfsr = SCB_CFSR, hfsr = SCB_HFSR, mmfar = SCB_MMFAR, bfar = SCB_BFAR;
    const uint32_t exception = SCB_ICSR & 0x1FFu;
    const uint32_t stack = (uint32_t)(__StackTop - __StackLimit);
    const uint32_t exit_args[2] = {0x20026u, FAULT_EXIT_STATUS};
    const int overflow = (cfsr & (CFSR_MSTKERR | CFSR_STKERR)) != 0u ||
                         ((cfsr & CFSR_MMARVALID) && below_stack(mmfar)) ||
                         ((cfsr & CFSR_BFARVALID) && below_stack(bfar));
    char *p = msg;
    if (overflow) {
        p = put_str(p, "esnn board fault: stack overflow (the ");
        p = put_dec(p, stack);
        p = put_str(p, " B stack ran into its MPU guard at ");
        p = put_hex(p, (uint32_t)__stack_guard);
        p = put_str(p, ")");
    } else {
        p = put_str(p, "esnn board fault: exception ");
        p = put_dec(p, exception);
    }
    p = put_str(p, "; CFSR ");
    p = put_hex(p, cfsr);
    p = put_str(p, " HFSR ");
    p = put_hex(p, hfsr);
    p = put_str(p, " MMFAR ");
    p = put_hex(p, mmfar);
    p = put_str(p, " BFAR ");
    p = put_hex(p, bfar);
    p = put_str(p, "\n");
    *p = '\0';
    (void)semihosting(SEMIHOSTING_SYS_WRITE0, msg);
    (void)semihosting(SEMIHOSTING_SYS_EXIT_EXTENDED, exit_args);
    for (;;) {
    }
}
