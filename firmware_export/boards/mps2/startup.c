/* edgelstm startup for Cortex-M: vector table, reset, faults. Common to every QEMU board of the
 * runner (mps2-an385/an386/an500/an505 here, mps3-an547 and microbit with their linker scripts in
 * ../mps3 and ../microbit): ARMv6-M (M0/M0+), ARMv7-M (M3/M4/M7), ARMv8-M mainline (M33) and
 * ARMv8.1-M (M55).
 * Reset: enable the FPU and MVE when the build uses them, copy .data, zero .bss, paint the stack,
 * run main, exit through semihosting with main's return code. */
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

#if defined(__ARM_ARCH_6M__)
/* ARMv6-M has only NMI and HardFault (every fault escalates to HardFault); slots 4-10 and 12-13
 * are reserved and must not hold handlers. No CPACR either (no FPU, no coprocessors). */
#define V7_FAULT(h) 0
#else
#define V7_FAULT(h) h
#endif

__attribute__((section(".vectors"), used)) const vector_t vector_table[16] = {
    (vector_t)(uintptr_t)&__stack_top, /* initial stack pointer */
    Reset_Handler,
    Default_Handler,          /* NMI */
    Fault_Handler,            /* HardFault */
    V7_FAULT(Fault_Handler),  /* MemManage (ARMv7-M, ARMv8-M mainline) */
    V7_FAULT(Fault_Handler),  /* BusFault */
    V7_FAULT(Fault_Handler),  /* UsageFault */
    V7_FAULT(Fault_Handler),  /* SecureFault (ARMv8-M with the Security Extension) */
    0, 0, 0,
    Default_Handler,          /* SVCall */
    V7_FAULT(Default_Handler), /* DebugMonitor */
    0,
    Default_Handler,          /* PendSV */
    SysTick_Handler,
};

void Reset_Handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR: full access to coprocessors 10 and 11: the FPU and, on ARMv8.1-M, the MVE (Helium)
     * registers, which an integer-only MVE build (+nofp) uses as well */
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
