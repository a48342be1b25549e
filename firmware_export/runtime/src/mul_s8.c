/* edgelstm runtime: MUL, int8 (one requantization of the int32 product). */
#include "edgelstm.h"

void el_mul_s8(const el_mul_s8_t *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    for (int32_t k = 0; k < p->size; ++k) {
        const int32_t prod = ((int32_t)a[k] + p->input1_offset) * ((int32_t)b[k] + p->input2_offset);
        const int32_t out = el_requantize(prod, p->multiplier, p->shift) + p->output_offset;
        y[k] = (int8_t)el_clamp_s32(out, p->act_min, p->act_max);
    }
}
