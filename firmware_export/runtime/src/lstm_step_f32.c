/* edgelstm runtime: float32 LSTM, one timestep (see el_lstm_f32.h for the equations). */
#include <math.h>

#include "el_lstm_f32.h"

static float sigmoid(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

static float cell_act(const el_lstm_f32_t *p, float v)
{
    return p->cell_act_sigmoid ? sigmoid(v) : tanhf(v);
}

/* pre-activation of one gate for every unit: W_x x + W_h h + b */
static void gate_sum(const el_lstm_f32_t *p, const el_lstm_f32_gate_t *g, const float *x, const float *h, float *out)
{
    for (int32_t u = 0; u < p->units; ++u) {
        const float *wx = g->w_x + u * p->input_size;
        const float *wh = g->w_h + u * p->units;
        float acc = g->bias ? g->bias[u] : 0.0f;
        for (int32_t k = 0; k < p->input_size; ++k) {
            acc += wx[k] * x[k];
        }
        for (int32_t k = 0; k < p->units; ++k) {
            acc += wh[k] * h[k];
        }
        out[u] = acc;
    }
}

void el_lstm_step_f32(const el_lstm_f32_t *p, const float *x, float *h, float *c, float *scratch)
{
    const int32_t n = p->units;
    float *i = scratch, *f = scratch + n, *g = scratch + 2 * n, *o = scratch + 3 * n;
    /* all four gates read the previous h before it is overwritten */
    gate_sum(p, &p->input_gate, x, h, i);
    gate_sum(p, &p->forget_gate, x, h, f);
    gate_sum(p, &p->cell_gate, x, h, g);
    gate_sum(p, &p->output_gate, x, h, o);
    for (int32_t u = 0; u < n; ++u) {
        float cu = sigmoid(f[u]) * c[u] + sigmoid(i[u]) * cell_act(p, g[u]);
        if (p->cell_clip > 0.0f) {
            cu = cu > p->cell_clip ? p->cell_clip : (cu < -p->cell_clip ? -p->cell_clip : cu);
        }
        c[u] = cu;
        h[u] = sigmoid(o[u]) * cell_act(p, cu);
    }
}
