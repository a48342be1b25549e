/* edgelstm runtime: ADD, float32, elementwise. */
#include "edgelstm.h"

void el_add_f32(int32_t size, const float *a, const float *b, float *y)
{
    for (int32_t k = 0; k < size; ++k) {
        y[k] = a[k] + b[k];
    }
}
