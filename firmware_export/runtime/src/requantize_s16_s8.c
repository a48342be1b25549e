/* edgelstm runtime: QUANTIZE int16 -> int8, as TFLite Micro's Requantize.
 * In a lowered LSTM: the int16 cell state (scale 2^-k, zero point 0) to the int8 grid TANH reads. */
#include "edgelstm.h"

void el_requantize_s16_s8(const el_requantize_t *p, const int16_t *x, int8_t *y)
{
    for (int32_t k = 0; k < p->size; ++k) {
        const int32_t v = el_requantize((int32_t)x[k] + p->input_offset, p->multiplier, p->shift);
        y[k] = (int8_t)el_clamp_s32(v + p->output_offset, INT8_MIN, INT8_MAX);
    }
}
