/* edgelstm runtime: FULLY_CONNECTED, int16 activations x int8 weights (TFLite's 16x8), int64 accumulator. */
#include "edgelstm.h"

void el_fc_s16(const el_fc_s16_t *p, const int16_t *x, int16_t *y)
{
    const int32_t rows = p->rows, in_size = p->in_size, out_size = p->out_size;
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *w = p->weights;
        for (int32_t o = 0; o < out_size; ++o) {
            int64_t acc = p->bias != 0 ? p->bias[o] : 0;
            for (int32_t i = 0; i < in_size; ++i) {
                /* |x * w| <= 2^22: the product fits in 32 bits, the sum needs 64 */
                acc += (int32_t)x[i] * (int32_t)w[i];
            }
            w += in_size;
            const int32_t c = p->per_channel ? o : 0;
            y[o] = (int16_t)el_clamp_s32(el_requantize_s64(acc, p->multiplier[c], p->shift[c]), p->act_min, p->act_max);
        }
        x += in_size;
        y += out_size;
    }
}
