/* edgelstm runtime: one timestep of an int8 LSTM layer, bit-exact with TFLite Micro. */
#include "el_fixedpoint.h"
#include "el_lstm_s8.h"

void lstm_step_s8(const el_lstm_s8_t *p, const int8_t *x, int8_t *h, int16_t *c, int16_t *scratch)
{
    const int32_t n = p->units;
    const int32_t m = p->input_size;
    int16_t *f = scratch;         /* forget gate, Q0.15; later tanh(c) */
    int16_t *i = scratch + n;     /* input gate, Q0.15; later the output gate */
    int16_t *g = scratch + 2 * n; /* cell gate, Q0.15 */
    int16_t *o = scratch + 3 * n; /* output gate, Q0.15 */

    /* The three gates the cell update needs, all from the previous h. */
    lstm_gate_s8(&p->forget_gate, m, n, x, h, EL_LSTM_S8_ACT_SIGMOID, f);
    lstm_gate_s8(&p->input_gate, m, n, x, h, EL_LSTM_S8_ACT_SIGMOID, i);
    lstm_gate_s8(&p->cell_gate, m, n, x, h, p->cell_gate_act, g);

    /* c = f * c + i * g: each product requantized to the cell scale and saturated to int16,
     * then a saturating add, then the optional cell clip. */
    for (int32_t u = 0; u < n; ++u) {
        const int32_t fc = el_clamp_s32(el_requantize((int32_t)f[u] * c[u], p->forget_mult, p->forget_shift),
                                        INT16_MIN, INT16_MAX);
        const int32_t ig = el_clamp_s32(el_requantize((int32_t)i[u] * g[u], p->input_mult, p->input_shift),
                                        INT16_MIN, INT16_MAX);
        int32_t v = el_clamp_s32(fc + ig, INT16_MIN, INT16_MAX);
        if (p->cell_clip >= 0) {
            v = el_clamp_s32(v, -p->cell_clip, p->cell_clip);
        }
        c[u] = (int16_t)v;
    }

    /* Output gate (still from the previous h), then h = o * tanh(c) requantized to int8. */
    lstm_gate_s8(&p->output_gate, m, n, x, h, EL_LSTM_S8_ACT_SIGMOID, o);
    el_tanh_s16(c, f, n, p->tanh_mult, p->tanh_shift);
    for (int32_t u = 0; u < n; ++u) {
        const int32_t v = p->hidden_zero_point + el_requantize((int32_t)f[u] * o[u], p->hidden_mult, p->hidden_shift);
        h[u] = (int8_t)el_clamp_s32(v, INT8_MIN, INT8_MAX);
    }
}
