/*
 * STM32F411RE (NUCLEO-F411RE) drivers of the protocol board: USART2 on PA2 (TX) / PA3 (RX), AF7, the
 * ST-LINK virtual COM port, 115200 8N1 from the 16 MHz HSI the part runs on after reset (no PLL set-up:
 * the runtime's speed is reported as cycles, whatever the clock). Register addresses: RM0383.
 *
 * Idle: WFI until USART2's RXNE interrupt is pending (RXNEIE + NVIC, masked by PRIMASK: no handler).
 * Counter: the DWT cycle counter (CYCCNT, 32-bit), folded into 64 bits at every read (counter_kind 2).
 * A real UART overruns when bytes come faster than the loop drains them: the host's retries cover a
 * lost byte (the protocol's CRC and retransmission), and the loop keeps up at 115200 baud.
 */
#include "board.h"
#include "dwt_counter.h"
#include "esnn_proto.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRL REG(0x40020020u)
#define USART2_SR REG(0x40004400u)
#define USART2_DR REG(0x40004404u)
#define USART2_BRR REG(0x40004408u)
#define USART2_CR1 REG(0x4000440Cu)
#define USART_SR_ORE (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE (1u << 13)
#define USART2_IRQ 38u
#define NVIC_ISER1 REG(0xE000E104u)
#define NVIC_ICPR1 REG(0xE000E284u)

#define HSI_HZ 16000000u
#define BAUD 115200u

const char board_name[] = "stm32f411-nucleo";


void board_uart_init(void) {
    __asm__ volatile("cpsid i" : : : "memory");
    RCC_AHB1ENR |= 1u;         /* GPIOA */
    RCC_APB1ENR |= 1u << 17;   /* USART2 */
    (void)RCC_APB1ENR;         /* read back: the clock is on before the registers are touched */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4);      /* PA2, PA3: alternate function */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);      /* AF7 = USART2 */
    USART2_BRR = (HSI_HZ + BAUD / 2u) / BAUD;                      /* oversampling by 16 */
    USART2_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    NVIC_ISER1 = 1u << (USART2_IRQ - 32u);
    dwt_counter_init();
}

int board_uart_getc(uint8_t *c) {
    uint32_t sr = USART2_SR;
    if (!(sr & (USART_SR_RXNE | USART_SR_ORE))) return 0;
    *c = (uint8_t)USART2_DR; /* reading DR clears RXNE (and ORE after the SR read): a lost byte shows as a
                                framing/CRC error on the host, which retransmits */
    return (sr & USART_SR_RXNE) ? 1 : 0;
}

void board_idle(void) {
    NVIC_ICPR1 = 1u << (USART2_IRQ - 32u);
    __asm__ volatile("dsb" : : : "memory");
    if (USART2_SR & (USART_SR_RXNE | USART_SR_ORE)) return;
    __asm__ volatile("wfi" : : : "memory");
}

void board_uart_putc(uint8_t c) {
    while (!(USART2_SR & USART_SR_TXE)) {
    }
    USART2_DR = c;
}

