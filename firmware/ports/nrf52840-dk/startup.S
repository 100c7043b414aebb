/* nRF52840 startup: vector table at 0 (flash) with the 16 system vectors and the 48 peripheral interrupt
 * vectors (IDs 0..47, POWER_CLOCK .. SPIM3; nRF52840 PS, instantiation table; reset:
 * ../common/cortex_m4_reset.S). Interrupts stay masked (PRIMASK, set in board_uart_init), so every vector
 * but reset is a fault: it requests a system reset (SCB AIRCR SYSRESETREQ), and the board boots again and
 * announces INFO. */
    .syntax unified
    .cpu cortex-m4
    .thumb

    .section .vectors, "a"
    .word __StackTop
    .word Reset_Handler
    .rept 14 + 48
    .word Fault_Handler
    .endr

    .text
    /* Reset_Handler: ../common/cortex_m4_reset.S */

    .thumb_func
    .global Fault_Handler
Fault_Handler:
    ldr r0, =0xE000ED0C          /* AIRCR: VECTKEY | SYSRESETREQ */
    ldr r1, =0x05FA0004
    dsb
    str r1, [r0]
    dsb
6:  b 6b
