/* edgelstm runtime: REDUCE_MAX over the middle axis (GlobalMaxPooling1D: x[outer][reduced][inner]
 * -> y[outer][inner]), float32: from -FLT_MAX (TFLite's lowest float), keep v where v > max. */
#include <float.h>

#include "edgelstm.h"

void el_reduce_max_f32(int32_t outer, int32_t reduced, int32_t inner, const float *x, float *y)
{
    for (int32_t b = 0; b < outer; ++b, x += reduced * inner, y += inner) {
        for (int32_t c = 0; c < inner; ++c) {
            float m = -FLT_MAX;
            for (int32_t r = 0; r < reduced; ++r) {
                const float v = x[r * inner + c];
                m = v > m ? v : m;
            }
            y[c] = m;
        }
    }
}
