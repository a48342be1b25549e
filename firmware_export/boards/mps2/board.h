/* edgelstm board API for QEMU's MPS2 Cortex-M boards (semihosting I/O, SysTick counter).
 * The host build has the same API over stdio (../host/board.h). */
#ifndef EL_BOARD_H
#define EL_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int board_read(void *buf, unsigned n);          /* exactly n bytes from in.bin; 0 on success */
void board_write(const void *buf, unsigned n);  /* append to out.bin */
void board_exit(int code);                      /* semihosting exit with this code */
void board_counter_start(void);                 /* SysTick on the core clock, wraps counted */
uint64_t board_counter_stop(void);              /* core clock ticks since start */
uint32_t board_stack_peak(void);                /* bytes of stack ever used (painted stack) */

#ifdef __cplusplus
}
#endif

#endif /* EL_BOARD_H */
