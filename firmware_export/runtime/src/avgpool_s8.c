/* edgelstm runtime: AVERAGE_POOL_2D along time (AveragePooling1D), int8 in and out on one scale
 * and zero point. Each output: the int32 sum of the raw values over the window's n steps inside
 * the input (a 'same' window at an edge averages fewer steps), divided by n rounded half away
 * from zero as TFLite Micro does ((sum +- n/2) / n, C division truncating), clamped to the fused
 * activation's range. */
#include "edgelstm.h"

void el_avgpool_s8(const el_pool_s8_t *p, const int8_t *x, int8_t *y)
{
    const int32_t ch = p->channels;
    for (int32_t t = 0; t < p->out_len; ++t, y += ch) {
        int32_t start, end;
        el_pool_window(t, p->stride, p->pad, p->pool, p->in_len, &start, &end);
        const int32_t n = end - start;   /* >= 1: TFLite's padding never leaves a window empty */
        for (int32_t c = 0; c < ch; ++c) {
            int32_t sum = 0;
            for (int32_t s = start; s < end; ++s) {
                sum += x[s * ch + c];
            }
            sum = sum > 0 ? (sum + n / 2) / n : (sum - n / 2) / n;
            y[c] = (int8_t)el_clamp_s32(sum, p->act_min, p->act_max);
        }
    }
}
