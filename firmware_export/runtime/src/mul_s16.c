/* edgelstm runtime: MUL, int16 (symmetric: every zero point 0), as TFLite Micro's int16 MUL:
 * one requantization of the exact int32 product. In a lowered LSTM: f (Q0.15) * c (cell grid). */
#include "edgelstm.h"

void el_mul_s16(const el_mul_s16_t *p, const int16_t *a, const int16_t *b, int16_t *y)
{
    for (int32_t k = 0; k < p->size; ++k) {
        /* |a * b| <= 2^30: exact in int32 */
        const int32_t prod = (int32_t)a[k] * (int32_t)b[k];
        const int32_t out = el_requantize(prod, p->multiplier, p->shift);
        y[k] = (int16_t)el_clamp_s32(out, p->act_min, p->act_max);
    }
}
