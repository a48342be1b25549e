/* edgelstm board API (host build): see firmware_export/boards/board.h for the Cortex-M one. */
#ifndef EL_BOARD_H
#define EL_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int board_read(void *buf, unsigned n);
void board_write(const void *buf, unsigned n);
void board_exit(int code);
void board_counter_start(void);
uint64_t board_counter_stop(void);
uint32_t board_stack_peak(void);

#ifdef __cplusplus
}
#endif

#endif
