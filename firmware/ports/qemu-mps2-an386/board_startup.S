/* mps2-an386 protocol board startup: vector table at 0 (reset: ../common/cortex_m4_reset.S). A fault
 * exits QEMU with status 99 through semihosting SYS_EXIT_EXTENDED when QEMU runs with -semihosting-config
 * enable=on (edgesnn/host/qemu.py does), so a crash ends the emulator instead of hanging the host. */
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
    /* Reset_Handler: ../common/cortex_m4_reset.S */

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
