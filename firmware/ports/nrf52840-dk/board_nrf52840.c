/*
 * nRF52840 (nRF52840 DK) drivers of the protocol board: the legacy UART0 register set (base 0x40002000,
 * shared with UARTE0), TX on P0.06 and RX on P0.08, the interface MCU's virtual COM port, 115200 8N1, no
 * flow control. The 64 MHz crystal oscillator (HFXO) is started first so the baud rate is accurate (the
 * internal RC oscillator is only good to a few percent); the CPU runs at 64 MHz either way. Register
 * addresses and values: nRF52840 Product Specification (CLOCK, GPIO P0, UART, instantiation table).
 *
 * Idle: WFI until UART0's RXDRDY interrupt is pending (INTENSET.RXDRDY + NVIC, masked by PRIMASK: no
 * handler). Counter: the DWT cycle counter (CYCCNT, 32-bit), folded into 64 bits at every read
 * (counter_kind 2). The UART's 6-byte receive FIFO absorbs short stalls; a byte lost to an overrun shows
 * as a framing/CRC error on the host, which retransmits.
 */
#include "board.h"
#include "dwt_counter.h"
#include "esnn_proto.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

/* CLOCK (base 0x40000000) */
#define CLOCK_TASKS_HFCLKSTART REG(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG(0x40000100u)
/* APPROTECT (base 0x40000000) and UICR (base 0x10001000): see board_uart_init */
#define APPROTECT_DISABLE REG(0x40000558u)
#define UICR_APPROTECT REG(0x10001208u)
#define APPROTECT_HW_DISABLED 0x5Au
#define APPROTECT_SW_DISABLE 0x5Au

/* GPIO P0 (base 0x50000000) */
#define P0_OUTSET REG(0x50000508u)
#define P0_PIN_CNF(n) REG(0x50000700u + 4u * (n))
#define PIN_CNF_OUTPUT 3u /* DIR = output, INPUT = disconnect, no pull, S0S1 drive */
#define PIN_CNF_INPUT 0u  /* DIR = input, INPUT = connect, no pull */

/* UART0 (base 0x40002000, peripheral ID 2 = IRQ 2) */
#define UART0_TASKS_STARTRX REG(0x40002000u)
#define UART0_TASKS_STARTTX REG(0x40002008u)
#define UART0_EVENTS_RXDRDY REG(0x40002108u)
#define UART0_EVENTS_TXDRDY REG(0x4000211Cu)
#define UART0_EVENTS_ERROR REG(0x40002124u)
#define UART0_INTENSET REG(0x40002304u)
#define UART0_INTENCLR REG(0x40002308u)
#define UART0_ERRORSRC REG(0x40002480u)
#define UART0_ENABLE REG(0x40002500u)
#define UART0_PSEL_RTS REG(0x40002508u)
#define UART0_PSEL_TXD REG(0x4000250Cu)
#define UART0_PSEL_CTS REG(0x40002510u)
#define UART0_PSEL_RXD REG(0x40002514u)
#define UART0_RXD REG(0x40002518u)
#define UART0_TXD REG(0x4000251Cu)
#define UART0_BAUDRATE REG(0x40002524u)
#define UART0_CONFIG REG(0x4000256Cu)
#define UART_ENABLE_ENABLED 4u
#define UART_BAUDRATE_115200 0x01D7E000u
#define UART_INT_RXDRDY (1u << 2)
#define PSEL_DISCONNECTED 0xFFFFFFFFu
#define UART0_IRQ 2u
#define TX_PIN 6u /* P0.06 */
#define RX_PIN 8u /* P0.08 */

#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ICPR0 REG(0xE000E280u)

const char board_name[] = "nrf52840-dk";

static int g_tx_busy; /* a byte written to TXD whose TXDRDY has not been seen yet */

void board_uart_init(void) {
    __asm__ volatile("cpsid i" : : : "memory");
    /* Parts whose access port protection is controlled by hardware and software (build code F and
     * later) lock the debug port at every reset unless the firmware opens it again; do so when UICR says
     * the user wants it open (UICR.APPROTECT = HwDisabled), as Nordic's SystemInit does. */
    if ((UICR_APPROTECT & 0xFFu) == APPROTECT_HW_DISABLED) APPROTECT_DISABLE = APPROTECT_SW_DISABLE;
    CLOCK_EVENTS_HFCLKSTARTED = 0u;
    CLOCK_TASKS_HFCLKSTART = 1u;
    while (CLOCK_EVENTS_HFCLKSTARTED == 0u) {
    }
    P0_OUTSET = 1u << TX_PIN; /* TXD idles high before the UART takes the pin */
    P0_PIN_CNF(TX_PIN) = PIN_CNF_OUTPUT;
    P0_PIN_CNF(RX_PIN) = PIN_CNF_INPUT;
    UART0_PSEL_TXD = TX_PIN; /* PORT 0, CONNECT (bit 31) = 0 */
    UART0_PSEL_RXD = RX_PIN;
    UART0_PSEL_RTS = PSEL_DISCONNECTED;
    UART0_PSEL_CTS = PSEL_DISCONNECTED;
    UART0_BAUDRATE = UART_BAUDRATE_115200;
    UART0_CONFIG = 0u; /* no hardware flow control, no parity, one stop bit */
    UART0_INTENCLR = 0xFFFFFFFFu;
    UART0_ENABLE = UART_ENABLE_ENABLED;
    UART0_EVENTS_RXDRDY = 0u;
    UART0_EVENTS_TXDRDY = 0u;
    UART0_EVENTS_ERROR = 0u;
    UART0_TASKS_STARTRX = 1u;
    UART0_TASKS_STARTTX = 1u;
    UART0_INTENSET = UART_INT_RXDRDY; /* the WFI wake-up (PRIMASK set: no handler runs) */
    NVIC_ISER0 = 1u << UART0_IRQ;
    dwt_counter_init();
}

int board_uart_getc(uint8_t *c) {
    if (UART0_EVENTS_RXDRDY == 0u) return 0;
    /* Clear the event before reading RXD: the read moves the next byte of the FIFO into RXD, which
     * raises RXDRDY again. The read-back makes sure the clear took effect before the RXD read. */
    UART0_EVENTS_RXDRDY = 0u;
    (void)UART0_EVENTS_RXDRDY;
    *c = (uint8_t)UART0_RXD;
    if (UART0_EVENTS_ERROR != 0u) { /* overrun/framing: a lost byte, the host retransmits */
        UART0_EVENTS_ERROR = 0u;
        UART0_ERRORSRC = UART0_ERRORSRC; /* write 1 to clear */
    }
    return 1;
}

void board_idle(void) {
    NVIC_ICPR0 = 1u << UART0_IRQ;
    __asm__ volatile("dsb" : : : "memory");
    if (UART0_EVENTS_RXDRDY != 0u) return; /* arrived before the clear: its pending state is gone */
    __asm__ volatile("wfi" : : : "memory");
}

void board_uart_putc(uint8_t c) {
    if (g_tx_busy)
        while (UART0_EVENTS_TXDRDY == 0u) {
        }
    UART0_EVENTS_TXDRDY = 0u;
    UART0_TXD = c;
    g_tx_busy = 1;
}

