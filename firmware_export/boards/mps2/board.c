/* edgelstm board support: semihosting file I/O and exit, SysTick tick counter, stack peak.
 * Common to every QEMU board of the runner, ARMv6-M to ARMv8.1-M: it needs only the architectural
 * SysTick at 0xE000E010 (optional on a real M0/M0+, present in QEMU and the nRF51) and semihosting.
 *
 * Semihosting (ARM DUI 0471): BKPT 0xAB with the operation in r0 and a parameter block in r1.
 * QEMU started with -semihosting-config enable=on,target=native opens host files relative to
 * its working directory. Under -icount the core clock advances a fixed time per instruction,
 * so SysTick ticks measure instructions exactly and repeatably (QEMU has no DWT cycle counter).
 */
#include "board.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

#define STACK_PAINT 0xC0FFEE11u

extern uint32_t __stack_limit;
extern uint32_t __stack_top;

static volatile uint32_t systick_wraps;
static int32_t in_handle = -1;
static int32_t out_handle = -1;

static int32_t semihost(int32_t op, void *block)
{
    register int32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int32_t open_file(const char *name, int32_t mode, int32_t len)
{
    uint32_t block[3] = {(uint32_t)name, (uint32_t)mode, (uint32_t)len};
    return semihost(SYS_OPEN, block);
}

int board_read(void *buf, unsigned n)
{
    if (in_handle < 0) {
        in_handle = open_file("in.bin", 1 /* "rb" */, 6);
        if (in_handle < 0) {
            return -1;
        }
    }
    uint8_t *p = (uint8_t *)buf;
    while (n > 0u) {
        uint32_t block[3] = {(uint32_t)in_handle, (uint32_t)p, n};
        int32_t left = semihost(SYS_READ, block); /* the bytes NOT read; n at end of file */
        if (left < 0 || (uint32_t)left >= n) {
            return -1;
        }
        p += n - (uint32_t)left;
        n = (uint32_t)left;
    }
    return 0;
}

void board_write(const void *buf, unsigned n)
{
    if (out_handle < 0) {
        out_handle = open_file("out.bin", 5 /* "wb" */, 7);
        if (out_handle < 0) {
            board_exit(4);
        }
    }
    const uint8_t *p = (const uint8_t *)buf;
    while (n > 0u) {
        uint32_t block[3] = {(uint32_t)out_handle, (uint32_t)p, n};
        int32_t left = semihost(SYS_WRITE, block); /* the bytes NOT written */
        if (left < 0 || (uint32_t)left >= n) {
            board_exit(5);
        }
        p += n - (uint32_t)left;
        n = (uint32_t)left;
    }
}

void board_exit(int code)
{
    if (out_handle >= 0) {
        uint32_t h = (uint32_t)out_handle;
        (void)semihost(SYS_CLOSE, &h);
    }
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    for (;;) {
        (void)semihost(SYS_EXIT_EXTENDED, block);
    }
}

void SysTick_Handler(void)
{
    systick_wraps = systick_wraps + 1;
}

void board_counter_start(void)
{
    SYST_CSR = 0;
    systick_wraps = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;             /* any write clears; the counter reloads on the next tick */
    SYST_CSR = 0x7;           /* core clock, interrupt on wrap, enable */
}

uint64_t board_counter_stop(void)
{
    uint32_t wraps, now;
    do {
        wraps = systick_wraps;
        now = SYST_CVR;
    } while (wraps != systick_wraps);
    SYST_CSR = 0;
    /* CVR reads 0 from start until the first tick reloads it: nothing elapsed yet */
    uint32_t part = (now == 0u) ? 0u : SYST_RELOAD - now;
    return (uint64_t)wraps * (SYST_RELOAD + 1u) + part;
}

void board_paint_stack(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    uint32_t *p = &__stack_limit;
    uint32_t *end = (uint32_t *)(sp - 64); /* leave this frame alone */
    while (p < end) {
        *p++ = STACK_PAINT;
    }
}

uint32_t board_stack_peak(void)
{
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((const uint8_t *)&__stack_top - (const uint8_t *)p);
}
