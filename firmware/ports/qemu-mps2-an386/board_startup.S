/* mps2-an386 protocol board startup: vector table at 0, the stack guard, then the shared reset
 * (../common/cortex_m4_reset.S). Board_Reset_Handler paints the stack with BOARD_STACK_PAINT (the host
 * reads its high-water mark through the QEMU monitor: edgesnn/host/qemu.py) and makes the 64 KiB below
 * it (board.ld: the stack opens RAM, __stack_guard lies below RAM) no-access through the MPU, so a stack
 * overflow faults instead of overwriting .data/.bss. A fault is reported by board_fault()
 * (board_mps2.c) on the semihosting console and exits QEMU with status 99 (SYS_EXIT_EXTENDED; QEMU runs
 * with -semihosting-config enable=on, as edgesnn/host/qemu.py does), so a crash ends the emulator
 * instead of hanging the host. */
    .syntax unified
    .cpu cortex-m4
    .thumb

    .equ BOARD_STACK_PAINT, 0x5AC3A53C
    .equ SHCSR, 0xE000ED24
    .equ MPU_CTRL, 0xE000ED94
    .equ MPU_RNR, 0xE000ED98
    .equ MPU_RBAR, 0xE000ED9C
    .equ MPU_RASR, 0xE000EDA0
    /* region 0: XN, AP = 000 (no access, privileged or not), SIZE = 15 (2^(15+1) = 64 KiB), enabled */
    .equ GUARD_RASR, (1 << 28) | (15 << 1) | 1
    /* MemManage, BusFault and UsageFault get their own exceptions (all handled by Fault_Handler) */
    .equ SHCSR_FAULTS, (1 << 16) | (1 << 17) | (1 << 18)

    .section .vectors, "a"
    .word __StackTop
    .word Board_Reset_Handler
    .rept 14
    .word Fault_Handler
    .endr

    .text
    .thumb_func
    .global Board_Reset_Handler
Board_Reset_Handler:
    ldr r0, =__StackLimit        /* paint the whole stack: nothing is on it yet */
    ldr r1, =__StackTop
    ldr r2, =BOARD_STACK_PAINT
1:  cmp r0, r1
    bhs 2f
    str r2, [r0], #4
    b 1b
2:  ldr r0, =MPU_RNR
    movs r1, #0
    str r1, [r0]
    ldr r0, =MPU_RBAR
    ldr r1, =__stack_guard
    str r1, [r0]
    ldr r0, =MPU_RASR
    ldr r1, =GUARD_RASR
    str r1, [r0]
    ldr r0, =SHCSR
    ldr r1, [r0]
    orr r1, r1, #SHCSR_FAULTS
    str r1, [r0]
    ldr r0, =MPU_CTRL
    movs r1, #5                  /* ENABLE | PRIVDEFENA: the default memory map everywhere else */
    str r1, [r0]
    dsb
    isb
    b Reset_Handler

    /* Any fault: the stack may be what failed, so board_fault() runs on a fresh one (it never returns). */
    .thumb_func
    .global Fault_Handler
Fault_Handler:
    ldr r0, =__StackTop
    mov sp, r0
    b board_fault
