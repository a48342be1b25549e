/* edgelstm runtime: BATCH_MATMUL, int8 x int8 -> int8 (attention pooling: softmax weights times the sequence).
 *
 * y[b][i][j] = requant(sum_k (a[b][i][k] + lhs_offset) * (r[b][k][j] + rhs_offset)) + output_offset,
 * clamped to int8. Both operands are activations (asymmetric, one scale each); the real multiplier
 * s_a * s_r / s_y is in (multiplier, shift) as TFLite's QuantizeMultiplier gives it. adj_x / adj_y: the
 * operand is stored transposed ([depth][rows], [cols][depth]). */
#include "edgelstm.h"

void el_batch_matmul_s8(const el_batch_matmul_s8_t *p, const int8_t *a, const int8_t *r, int8_t *y)
{
    const int32_t a_row = p->adj_x ? 1 : p->depth, a_k = p->adj_x ? p->rows : 1;
    const int32_t r_k = p->adj_y ? 1 : p->cols, r_col = p->adj_y ? p->depth : 1;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *ab = a + b * p->rows * p->depth;
        const int8_t *rb = r + b * p->depth * p->cols;
        for (int32_t i = 0; i < p->rows; ++i) {
            for (int32_t j = 0; j < p->cols; ++j) {
                int32_t acc = 0;
                for (int32_t k = 0; k < p->depth; ++k) {
                    acc += ((int32_t)ab[i * a_row + k * a_k] + p->lhs_offset)
                         * ((int32_t)rb[k * r_k + j * r_col] + p->rhs_offset);
                }
                const int32_t out = el_requantize(acc, p->multiplier, p->shift) + p->output_offset;
                *y++ = (int8_t)el_clamp_s32(out, -128, 127);
            }
        }
    }
}
