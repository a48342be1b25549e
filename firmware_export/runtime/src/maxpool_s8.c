/* edgelstm runtime: MAX_POOL_2D along time (MaxPooling1D), int8 in and out on one scale and zero
 * point (TFLite's pooling does not requantize). Each output: the largest raw value over the
 * window's steps inside the input (padding ignored), clamped to the fused activation's range. */
#include "edgelstm.h"

void el_maxpool_s8(const el_pool_s8_t *p, const int8_t *x, int8_t *y)
{
    const int32_t ch = p->channels;
    for (int32_t t = 0; t < p->out_len; ++t, y += ch) {
        int32_t start, end;
        el_pool_window(t, p->stride, p->pad, p->pool, p->in_len, &start, &end);
        for (int32_t c = 0; c < ch; ++c) {
            int32_t m = -128;
            for (int32_t s = start; s < end; ++s) {
                m = x[s * ch + c] > m ? x[s * ch + c] : m;
            }
            y[c] = (int8_t)el_clamp_s32(m, p->act_min, p->act_max);
        }
    }
}
