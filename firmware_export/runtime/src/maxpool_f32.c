/* edgelstm runtime: MAX_POOL_2D along time (MaxPooling1D), float32: the largest value over the
 * window's steps inside the input, clamped to the fused activation's range. */
#include <float.h>

#include "edgelstm.h"

void el_maxpool_f32(const el_pool_f32_t *p, const float *x, float *y)
{
    const int32_t ch = p->channels;
    for (int32_t t = 0; t < p->out_len; ++t, y += ch) {
        int32_t start, end;
        el_pool_window(t, p->stride, p->pad, p->pool, p->in_len, &start, &end);
        for (int32_t c = 0; c < ch; ++c) {
            float m = -FLT_MAX;
            for (int32_t s = start; s < end; ++s) {
                m = x[s * ch + c] > m ? x[s * ch + c] : m;
            }
            y[c] = m < p->act_min ? p->act_min : (m > p->act_max ? p->act_max : m);
        }
    }
}
