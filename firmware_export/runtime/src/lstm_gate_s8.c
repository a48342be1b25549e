/* edgelstm runtime: one int8 LSTM gate (input FC + recurrent FC + activation), TFLite Micro order. */
#include "el_fixedpoint.h"
#include "el_lstm_s8.h"

/* int32 sum of one weight row times an int8 vector, started at the folded bias. */
static int32_t row_dot(const int8_t *row, const int8_t *v, int32_t n, int32_t start)
{
    int32_t acc = start;
    for (int32_t k = 0; k < n; ++k) {
        acc += (int32_t)row[k] * (int32_t)v[k];
    }
    return acc;
}

void lstm_gate_s8(const el_lstm_s8_gate_t *g, int32_t input_size, int32_t units, const int8_t *x,
                  const int8_t *h, int32_t act, int16_t *out)
{
    for (int32_t u = 0; u < units; ++u) {
        /* Each FC output is requantized to Q3.12 and saturated to int16 on its own, then
         * the two are added with int16 saturation. */
        const int32_t ax = row_dot(g->w_x + u * input_size, x, input_size, g->bias_x ? g->bias_x[u] : 0);
        const int32_t ah = row_dot(g->w_h + u * units, h, units, g->bias_h ? g->bias_h[u] : 0);
        const int32_t qx = el_clamp_s32(el_requantize(ax, g->mult_x, g->shift_x), INT16_MIN, INT16_MAX);
        const int32_t qh = el_clamp_s32(el_requantize(ah, g->mult_h, g->shift_h), INT16_MIN, INT16_MAX);
        out[u] = (int16_t)el_clamp_s32(qx + qh, INT16_MIN, INT16_MAX);
    }
    /* Q3.12 in, Q0.15 out: multiplier 3, no shift (see el_lstm_s8.h) */
    if (act == EL_LSTM_S8_ACT_SIGMOID) {
        el_sigmoid_s16(out, out, units, 3, 0);
    } else {
        el_tanh_s16(out, out, units, 3, 0);
    }
}
