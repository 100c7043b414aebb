/* STM32F411RE startup: vector table at the start of flash (aliased at 0 when booting from flash) with
 * the 16 system vectors and 86 interrupt vectors (RM0383 table 37); reset enables the FPU, copies .data,
 * clears .bss and calls main. Interrupts stay masked (PRIMASK, set in board_uart_init), so every vector
 * but reset is a fault: it requests a system reset, and the board boots again and announces INFO. */
    .syntax unified
    .cpu cortex-m4
    .thumb

    .section .vectors, "a"
    .word __StackTop
    .word Reset_Handler
    .rept 14 + 86
    .word Fault_Handler
    .endr

    .text
    .thumb_func
    .global Reset_Handler
Reset_Handler:
    ldr r0, =0xE000ED88          /* CPACR: full access to CP10/CP11 */
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    ldr r0, =__data_load__
    ldr r1, =__data_start__
    ldr r2, =__data_end__
1:  cmp r1, r2
    bhs 2f
    ldr r3, [r0], #4
    str r3, [r1], #4
    b 1b
2:  ldr r1, =__bss_start__
    ldr r2, =__bss_end__
    movs r3, #0
3:  cmp r1, r2
    bhs 4f
    str r3, [r1], #4
    b 3b
4:  bl main
5:  b 5b

    .thumb_func
    .global Fault_Handler
Fault_Handler:
    ldr r0, =0xE000ED0C          /* AIRCR: VECTKEY | SYSRESETREQ */
    ldr r1, =0x05FA0004
    dsb
    str r1, [r0]
    dsb
6:  b 6b
