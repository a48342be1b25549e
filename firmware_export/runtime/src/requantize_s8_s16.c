/* edgelstm runtime: QUANTIZE int8 -> int16, as TFLite Micro's Requantize.
 * In a lowered LSTM: the forget gate (Q0.8: scale 1/256, zero point -128) to Q0.15, and the
 * input-gate product i*g to the int16 cell grid (scale 2^-k, zero point 0). */
#include "edgelstm.h"

void el_requantize_s8_s16(const el_requantize_t *p, const int8_t *x, int16_t *y)
{
    for (int32_t k = 0; k < p->size; ++k) {
        const int32_t v = el_requantize((int32_t)x[k] + p->input_offset, p->multiplier, p->shift);
        y[k] = (int16_t)el_clamp_s32(v + p->output_offset, INT16_MIN, INT16_MAX);
    }
}
