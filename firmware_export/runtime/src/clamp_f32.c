/* edgelstm runtime: a fused activation (RELU, RELU6, RELU_N1_TO_1) of a float elementwise op,
 * in place: y = min(max(y, lo), hi), as TFLite's ActivationFunctionWithMinMax. */
#include "edgelstm.h"

void el_clamp_f32(int32_t size, float lo, float hi, float *y)
{
    for (int32_t k = 0; k < size; ++k) {
        float v = y[k] < lo ? lo : y[k];
        y[k] = v > hi ? hi : v;
    }
}
