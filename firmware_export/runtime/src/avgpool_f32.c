/* edgelstm runtime: AVERAGE_POOL_2D along time (AveragePooling1D), float32: the sum over the
 * window's n steps inside the input, divided by n, clamped to the fused activation's range. */
#include "edgelstm.h"

void el_avgpool_f32(const el_pool_f32_t *p, const float *x, float *y)
{
    const int32_t ch = p->channels;
    for (int32_t t = 0; t < p->out_len; ++t, y += ch) {
        int32_t start, end;
        el_pool_window(t, p->stride, p->pad, p->pool, p->in_len, &start, &end);
        for (int32_t c = 0; c < ch; ++c) {
            float sum = 0.0f;
            for (int32_t s = start; s < end; ++s) {
                sum += x[s * ch + c];
            }
            sum /= (float)(end - start);
            y[c] = sum < p->act_min ? p->act_min : (sum > p->act_max ? p->act_max : sum);
        }
    }
}
