/* edgelstm runtime: LOGISTIC (sigmoid), float32. */
#include <math.h>

#include "edgelstm.h"

void el_logistic_f32(int32_t size, const float *x, float *y)
{
    for (int32_t k = 0; k < size; ++k) {
        y[k] = 1.0f / (1.0f + expf(-x[k]));
    }
}
