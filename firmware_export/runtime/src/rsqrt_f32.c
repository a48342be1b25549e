/* edgelstm runtime: RSQRT (1 / sqrt(x), elementwise), float32: LayerNormalization's 1/sqrt(var + eps). */
#include <math.h>

#include "edgelstm.h"

void el_rsqrt_f32(int32_t size, const float *x, float *y)
{
    for (int32_t k = 0; k < size; ++k) {
        y[k] = 1.0f / sqrtf(x[k]);
    }
}
