/* edgelstm runtime: QUANTIZE int8 -> int8 (a change of scale and zero point), as TFLite Micro's
 * Requantize. The converter inserts it where one tensor feeds ops that need another grid (e.g. a
 * Bidirectional layer's h before the concatenation of both directions). */
#include "edgelstm.h"

void el_requantize_s8_s8(const el_requantize_t *p, const int8_t *x, int8_t *y)
{
    for (int32_t k = 0; k < p->size; ++k) {
        const int32_t v = el_requantize((int32_t)x[k] + p->input_offset, p->multiplier, p->shift);
        y[k] = (int8_t)el_clamp_s32(v + p->output_offset, INT8_MIN, INT8_MAX);
    }
}
