/* edgelstm runtime: REDUCE_MAX over the middle axis (GlobalMaxPooling1D: x[outer][reduced][inner]
 * -> y[outer][inner]), int8. TFLite Micro's int8 REDUCE_MAX requires the same scale and zero point
 * in and out, so y is the largest raw value (real = scale * (q - zero_point) is monotonic in q),
 * starting from -128 as TFLite's ReduceGeneric starts from the type's lowest value. */
#include "edgelstm.h"

void el_reduce_max_s8(int32_t outer, int32_t reduced, int32_t inner, const int8_t *x, int8_t *y)
{
    for (int32_t b = 0; b < outer; ++b, x += reduced * inner, y += inner) {
        for (int32_t c = 0; c < inner; ++c) {
            int8_t m = -128;
            for (int32_t r = 0; r < reduced; ++r) {
                const int8_t v = x[r * inner + c];
                m = v > m ? v : m;
            }
            y[c] = m;
        }
    }
}
