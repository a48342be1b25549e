/* edgelstm runtime: MAXIMUM, float32 (a > b ? a : b, as TFLite's MaximumOp). */
#include "edgelstm.h"

void el_maximum_f32(int32_t size, const float *a, const float *b, float *y)
{
    for (int32_t k = 0; k < size; ++k) {
        y[k] = a[k] > b[k] ? a[k] : b[k];
    }
}
