/* edgelstm board support for the host: the board API over stdin/stdout, for tests with gcc. */
#include <stdio.h>
#include <stdlib.h>

#include "board.h"

int board_read(void *buf, unsigned n)
{
    return fread(buf, 1, n, stdin) == n ? 0 : -1;
}

void board_write(const void *buf, unsigned n)
{
    fwrite(buf, 1, n, stdout);
}

void board_exit(int code)
{
    fflush(stdout);
    exit(code);
}

void board_counter_start(void)
{
}

uint64_t board_counter_stop(void)
{
    return 0; /* no instruction counter on the host: instructions are measured in QEMU */
}

uint32_t board_stack_peak(void)
{
    return 0;
}
