/* edgelstm runtime: FULLY_CONNECTED, int8 activations x int8 weights, int32 accumulator. */
#include "edgelstm.h"

void el_fc_s8(const el_fc_s8_t *p, const int8_t *x, int8_t *y)
{
    const int32_t rows = p->rows, in_size = p->in_size, out_size = p->out_size;
    const int32_t out_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *w = p->weights;
        for (int32_t o = 0; o < out_size; ++o) {
            /* bias already holds -input_zero_point * sum(w[o]), so the loop is a plain dot product */
            int32_t acc = p->bias[o];
            for (int32_t i = 0; i < in_size; ++i) {
                acc += (int32_t)x[i] * (int32_t)w[i];
            }
            w += in_size;
            const int32_t c = p->per_channel ? o : 0;
            acc = el_requantize(acc, p->multiplier[c], p->shift[c]) + out_offset;
            y[o] = (int8_t)el_clamp_s32(acc, act_min, act_max);
        }
        x += in_size;
        y += out_size;
    }
}
