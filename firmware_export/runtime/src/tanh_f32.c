/* edgelstm runtime: TANH, float32. */
#include <math.h>

#include "edgelstm.h"

void el_tanh_f32(int32_t size, const float *x, float *y)
{
    for (int32_t k = 0; k < size; ++k) {
        y[k] = tanhf(x[k]);
    }
}
