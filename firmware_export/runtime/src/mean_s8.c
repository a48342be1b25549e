/* edgelstm runtime: MEAN over the middle axis (GlobalAveragePooling1D: x[outer][reduced][inner]
 * -> y[outer][inner]), int8, as TFLite Micro's QuantizedMeanOrSum: the raw values summed in int32,
 * y = clamp(requant(sum - zero_point * reduced) + output_offset) to [-128, 127], where multiplier
 * (Q0.31) and shift hold s_x / s_y with 1/reduced folded in (see quantparams.mean_params). TFLite
 * Micro takes this path also when scale and zero point match in and out (no truncated plain mean). */
#include "edgelstm.h"

void el_mean_s8(const el_mean_s8_t *p, const int8_t *x, int8_t *y)
{
    const int32_t reduced = p->reduced, inner = p->inner;
    for (int32_t b = 0; b < p->outer; ++b, x += reduced * inner, y += inner) {
        for (int32_t c = 0; c < inner; ++c) {
            int32_t sum = 0;
            for (int32_t r = 0; r < reduced; ++r) {
                sum += x[r * inner + c];
            }
            const int32_t out = el_requantize(sum - p->input_zero_point * reduced, p->multiplier, p->shift)
                                + p->output_offset;
            y[c] = (int8_t)el_clamp_s32(out, -128, 127);
        }
    }
}
