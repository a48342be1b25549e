/* edgelstm runtime: SUB, int16, TFLite Micro's int16 SUB (always its general path): a - b with
 * both inputs (zero point 0, checked by the generator) shifted left by 15 onto a common grid,
 * each scaled by its_scale / (2 * max input scale) (multipliers <= 1/2: each term within 2^29,
 * the difference within 2^30), then requantized by 2 * max input scale / (2^15 * output_scale).
 * In a GRU: h - n on power-of-two grids (scale 2^-k, zero point 0). */
#include "edgelstm.h"

void el_sub_s16(const el_add_s16_t *p, const int16_t *a, const int16_t *b, int16_t *y)
{
    for (int32_t k = 0; k < p->size; ++k) {
        const int32_t a_shifted = ((int32_t)a[k] + p->input1_offset) * (1 << p->left_shift);
        const int32_t b_shifted = ((int32_t)b[k] + p->input2_offset) * (1 << p->left_shift);
        const int32_t a_scaled = el_requantize(a_shifted, p->input1_multiplier, p->input1_shift);
        const int32_t b_scaled = el_requantize(b_shifted, p->input2_multiplier, p->input2_shift);
        const int32_t out = el_requantize(a_scaled - b_scaled, p->output_multiplier, p->output_shift)
                            + p->output_offset;
        y[k] = (int16_t)el_clamp_s32(out, p->act_min, p->act_max);
    }
}
