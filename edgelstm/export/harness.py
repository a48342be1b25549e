"""The check program: a main() around an exported model that reads input vectors and writes
the outputs (and instruction counter readings) back, through the board API. The same source
runs on the host (stdio) and on the QEMU boards (semihosting).

Protocol, little-endian: in  int32 n, int32 mode (0: <p>_run per sequence, 1: <p>_step per
timestep from reset), then n sequences of SEQ_LEN x INPUT_SIZE elements;
out per sequence its outputs (run: OUTPUT_STEPS x OUTPUT_SIZE, step: SEQ_LEN x OUTPUT_SIZE)
and uint64 counter ticks of the inference; at the end uint32 stack peak bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODE_RUN, MODE_STEP = 0, 1


def harness_source(prefix: str, ctype: str, streaming: bool) -> str:
    p, P = prefix, prefix.upper()
    step_body = (f"""            {p}_reset(&state);
            board_counter_start();
            for (int32_t t = 0; t < {P}_SEQ_LEN; ++t) {{
                {p}_step(&state, scratch, x + t * {P}_INPUT_SIZE, y + t * {P}_OUTPUT_SIZE);
            }}
            ticks = board_counter_stop();
            board_write(y, sizeof(y[0]) * {P}_SEQ_LEN * {P}_OUTPUT_SIZE);"""
                 if streaming else "            board_exit(3);")
    return f"""/* edgelstm check program for {p}: generated, see edgelstm/export/harness.py for the protocol. */
#include <stdint.h>

#include "board.h"
#include "{p}_model.h"

static {p}_state_t state;
static uint64_t scratch[({P}_SCRATCH_BYTES + 7) / 8];   /* {P}_SCRATCH_ALIGN-byte aligned */
static {ctype} x[{P}_SEQ_LEN * {P}_INPUT_SIZE];
static {ctype} y[{P}_SEQ_LEN * {P}_OUTPUT_SIZE + {P}_OUTPUT_STEPS * {P}_OUTPUT_SIZE];

int main(void)
{{
    int32_t header[2];
    if (board_read(header, sizeof(header)) != 0) {{
        board_exit(2);
    }}
    for (int32_t n = 0; n < header[0]; ++n) {{
        uint64_t ticks = 0;
        if (board_read(x, sizeof(x)) != 0) {{
            board_exit(2);
        }}
        if (header[1] == 0) {{
            board_counter_start();
            {p}_run(&state, scratch, x, y);
            ticks = board_counter_stop();
            board_write(y, sizeof(y[0]) * {P}_OUTPUT_STEPS * {P}_OUTPUT_SIZE);
        }} else {{
{step_body}
        }}
        board_write(&ticks, sizeof(ticks));
    }}
    uint32_t peak = board_stack_peak();
    board_write(&peak, sizeof(peak));
    return 0;
}}
"""


def harness_for(info: dict) -> str:
    """The check program for an export (its export.json contents)."""
    a = info["api"]
    return harness_source(info["name"], "int8_t" if a["dtype"] == "int8" else "float", a["streaming"])


@dataclass
class Layout:
    seq_len: int
    input_size: int
    output_size: int
    output_steps: int
    dtype: str


def encode(layout: Layout, x: np.ndarray, mode: int) -> bytes:
    x = np.ascontiguousarray(x, dtype=layout.dtype).reshape(-1, layout.seq_len, layout.input_size)
    return np.array([len(x), mode], "<i4").tobytes() + x.tobytes()


def decode(layout: Layout, data: bytes, n: int, mode: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(outputs (n, steps, out), ticks (n,), stack peak)."""
    steps = layout.seq_len if mode == MODE_STEP else layout.output_steps
    item = np.dtype(layout.dtype).itemsize
    per = steps * layout.output_size * item + 8
    if len(data) != n * per + 4:
        raise ValueError(f"check program wrote {len(data)} bytes, expected {n * per + 4}")
    ys, ticks = [], []
    for k in range(n):
        chunk = data[k * per:(k + 1) * per]
        ys.append(np.frombuffer(chunk[:-8], layout.dtype).reshape(steps, layout.output_size))
        ticks.append(int(np.frombuffer(chunk[-8:], "<u8")[0]))
    return np.stack(ys), np.array(ticks, np.int64), int(np.frombuffer(data[-4:], "<u4")[0])
