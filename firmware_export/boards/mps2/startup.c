/* edgelstm startup for Cortex-M (ARMv7-M and ARMv8-M mainline): vector table, reset, faults.
 * Reset: enable the FPU when the build uses it, copy .data, zero .bss, paint the stack, run
 * main, exit through semihosting with main's return code. */
#include <stdint.h>

#include "board.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;

int main(void);
void board_paint_stack(void);
void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) const vector_t vector_table[16] = {
    (vector_t)(uintptr_t)&__stack_top, /* initial stack pointer */
    Reset_Handler,
    Default_Handler, /* NMI */
    Fault_Handler,   /* HardFault */
    Fault_Handler,   /* MemManage */
    Fault_Handler,   /* BusFault */
    Fault_Handler,   /* UsageFault */
    Fault_Handler,   /* SecureFault (ARMv8-M) */
    0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    /* CPACR: full access to coprocessors 10 and 11 (the FPU) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    board_paint_stack();
    board_exit(main());
}

void Fault_Handler(void)
{
    board_exit(0x7F); /* a fault: distinctive exit code for the runner */
}

void Default_Handler(void)
{
    board_exit(0x7E);
}
