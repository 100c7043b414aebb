/* Reset handler shared by the Cortex-M4 board ports (each port's startup file holds its vector table and
 * its fault policy): enable the FPU (CPACR CP10/CP11; the runtime is integer-only but newlib or a user's
 * code may not be), copy .data from flash, clear .bss, call main (no C library start-up). */
    .syntax unified
    .cpu cortex-m4
    .thumb

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
