/* mps2-an386 (Cortex-M4) test image startup: vector table at 0, reset enables the FPU (CPACR) and jumps to
 * newlib rdimon's _start (which sets up the stack/heap via semihosting, clears .bss and calls main).
 * Any fault exits QEMU with status 99 through semihosting SYS_EXIT_EXTENDED, so a crash never hangs CI. */
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
    ldr r0, =0xE000ED88
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    b _start

    .thumb_func
    .global Fault_Handler
Fault_Handler:
    movs r0, #0x20
    ldr r1, =fault_exit
    bkpt 0xAB
1:  b 1b

    .section .rodata
    .align 2
fault_exit:
    .word 0x20026, 99
