/* edgelstm runtime: MEAN over the middle axis (GlobalAveragePooling1D), float32: x[outer][reduced][inner]
 * -> y[outer][inner], summed in order, divided by reduced. */
#include "edgelstm.h"

void el_mean_f32(int32_t outer, int32_t reduced, int32_t inner, const float *x, float *y)
{
    for (int32_t b = 0; b < outer; ++b, x += reduced * inner, y += inner) {
        for (int32_t c = 0; c < inner; ++c) {
            float sum = 0.0f;
            for (int32_t r = 0; r < reduced; ++r) {
                sum += x[r * inner + c];
            }
            y[c] = sum / (float)reduced;
        }
    }
}
