/* mps2-an386 protocol board startup: vector table at 0; reset enables the FPU, copies .data from flash,
 * clears .bss and calls main (no C library start-up). A fault exits QEMU with status 99 through
 * semihosting SYS_EXIT_EXTENDED when QEMU runs with -semihosting-config enable=on (edgesnn/host/qemu.py
 * does), so a crash ends the emulator instead of hanging the host. */
    .syntax unified
    .cpu cortex-m4
    .thumb

    .section .vectors, "a"
    .word __StackTop
    .word Reset_Handler
    .rept 14
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
    movs r0, #0x20
    ldr r1, =fault_exit
    bkpt 0xAB
6:  b 6b

    .section .rodata
    .align 2
fault_exit:
    .word 0x20026, 99
