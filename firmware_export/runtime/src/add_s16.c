/* edgelstm runtime: ADD, int16, TFLite Micro's general int16 path (pot_scale_int16 false):
 * both inputs on a common 2^-15 grid (left_shift 15), summed, requantized. In a lowered LSTM:
 * c = f*c + i*g, all three on the cell grid (scale 2^-k, zero point 0). */
#include "edgelstm.h"

void el_add_s16(const el_add_s16_t *p, const int16_t *a, const int16_t *b, int16_t *y)
{
    for (int32_t k = 0; k < p->size; ++k) {
        /* zero points are 0 (checked by the generator): |x| * 2^15 <= 2^30 */
        const int32_t a_shifted = ((int32_t)a[k] + p->input1_offset) * (1 << p->left_shift);
        const int32_t b_shifted = ((int32_t)b[k] + p->input2_offset) * (1 << p->left_shift);
        /* input multipliers are <= 1/2: each term fits in 2^29, the sum in 2^30 */
        const int32_t a_scaled = el_requantize(a_shifted, p->input1_multiplier, p->input1_shift);
        const int32_t b_scaled = el_requantize(b_shifted, p->input2_multiplier, p->input2_shift);
        const int32_t out = el_requantize(a_scaled + b_scaled, p->output_multiplier, p->output_shift)
                            + p->output_offset;
        y[k] = (int16_t)el_clamp_s32(out, p->act_min, p->act_max);
    }
}
