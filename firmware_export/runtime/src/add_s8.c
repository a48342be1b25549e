/* edgelstm runtime: ADD, int8. */
#include "edgelstm.h"

void el_add_s8(const el_addsub_s8_t *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    for (int32_t k = 0; k < p->size; ++k) {
        const int32_t a_shifted = ((int32_t)a[k] + p->input1_offset) * (1 << p->left_shift);
        const int32_t b_shifted = ((int32_t)b[k] + p->input2_offset) * (1 << p->left_shift);
        const int32_t a_scaled = el_requantize(a_shifted, p->input1_multiplier, p->input1_shift);
        const int32_t b_scaled = el_requantize(b_shifted, p->input2_multiplier, p->input2_shift);
        const int32_t out = el_requantize(a_scaled + b_scaled, p->output_multiplier, p->output_shift) + p->output_offset;
        y[k] = (int8_t)el_clamp_s32(out, p->act_min, p->act_max);
    }
}
