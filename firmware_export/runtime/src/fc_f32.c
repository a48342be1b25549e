/* edgelstm runtime: FULLY_CONNECTED, float32. */
#include "edgelstm.h"

void el_fc_f32(const el_fc_f32_t *p, const float *x, float *y)
{
    for (int32_t r = 0; r < p->rows; ++r) {
        const float *w = p->weights;
        for (int32_t o = 0; o < p->out_size; ++o) {
            float acc = 0.0f;
            for (int32_t i = 0; i < p->in_size; ++i) {
                acc += x[i] * w[i];
            }
            w += p->in_size;
            if (p->bias) {
                acc += p->bias[o];
            }
            y[o] = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
        }
        x += p->in_size;
        y += p->out_size;
    }
}
