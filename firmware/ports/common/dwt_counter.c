#include "dwt_counter.h"

#include "board.h"
#include "esnn_proto.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

static uint32_t g_last;
static uint64_t g_cycles;

void dwt_counter_init(void) {
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u; /* CYCCNTENA */
    g_last = DWT_CYCCNT;
}

/* CYCCNT is 32-bit: folded into 64 bits at every read (wraps every 2^32 cycles, far apart from reads). */
uint64_t board_counter(void) {
    uint32_t now = DWT_CYCCNT;
    g_cycles += (uint32_t)(now - g_last);
    g_last = now;
    return g_cycles;
}

uint8_t board_counter_kind(void) { return ESNN_COUNTER_CYCLES; }
