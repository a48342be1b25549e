/* edgelstm runtime: FULLY_CONNECTED, int8 activations x int8 weights, int32 accumulator. */
#include "edgelstm.h"

void fc_s8(const el_fc_s8_t *p, const int8_t *x, int8_t *y)
{
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *w = p->weights;
        for (int32_t o = 0; o < p->out_size; ++o) {
            int32_t acc = p->bias ? p->bias[o] : 0;
            for (int32_t i = 0; i < p->in_size; ++i) {
                acc += ((int32_t)x[i] + p->input_offset) * (int32_t)w[i];
            }
            w += p->in_size;
            const int32_t c = p->per_channel ? o : 0;
            acc = el_requantize(acc, p->multiplier[c], p->shift[c]) + p->output_offset;
            y[o] = (int8_t)el_clamp_s32(acc, p->act_min, p->act_max);
        }
        x += p->in_size;
        y += p->out_size;
    }
}
