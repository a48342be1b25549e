/* edgelstm runtime: SOFTMAX over the last axis, float32 (max subtracted for range). */
#include <math.h>

#include "edgelstm.h"

void el_softmax_f32(int32_t rows, int32_t depth, float beta, const float *x, float *y)
{
    for (int32_t r = 0; r < rows; ++r, x += depth, y += depth) {
        float max_in_row = x[0];
        for (int32_t c = 1; c < depth; ++c) {
            max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
        }
        float sum = 0.0f;
        for (int32_t c = 0; c < depth; ++c) {
            y[c] = expf((x[c] - max_in_row) * beta);
            sum += y[c];
        }
        for (int32_t c = 0; c < depth; ++c) {
            y[c] /= sum;
        }
    }
}
