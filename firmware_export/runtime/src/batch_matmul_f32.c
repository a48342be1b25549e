/* edgelstm runtime: BATCH_MATMUL, float32: y[b][i][j] = sum_k a[b][i][k] * r[b][k][j] (adj_x / adj_y: the
 * operand is stored transposed). */
#include "edgelstm.h"

void el_batch_matmul_f32(const el_batch_matmul_f32_t *p, const float *a, const float *r, float *y)
{
    const int32_t a_row = p->adj_x ? 1 : p->depth, a_k = p->adj_x ? p->rows : 1;
    const int32_t r_k = p->adj_y ? 1 : p->cols, r_col = p->adj_y ? p->depth : 1;
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *ab = a + b * p->rows * p->depth;
        const float *rb = r + b * p->depth * p->cols;
        for (int32_t i = 0; i < p->rows; ++i) {
            for (int32_t j = 0; j < p->cols; ++j) {
                float acc = 0.0f;
                for (int32_t k = 0; k < p->depth; ++k) {
                    acc += ab[i * a_row + k * a_k] * rb[k * r_k + j * r_col];
                }
                *y++ = acc;
            }
        }
    }
}
